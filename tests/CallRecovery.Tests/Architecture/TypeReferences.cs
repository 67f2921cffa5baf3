using System.Collections.Immutable;
using System.Reflection;
using System.Reflection.Emit;
using System.Reflection.Metadata;
using System.Reflection.Metadata.Ecma335;
using System.Reflection.PortableExecutable;

namespace CallRecovery.Tests.Architecture;

/// <summary>One type of an assembly using another (both named by namespace and full name; the used one also by its assembly).</summary>
public sealed record TypeReference(string FromNamespace, string FromType, string ToAssembly, string ToNamespace, string ToType);

/// <summary>
/// Reads which types each type of a compiled assembly uses, from its metadata and IL (System.Reflection.Metadata):
/// base types, interfaces, attributes, generic constraints, field and method signatures, locals, and every type,
/// method and field token in method bodies. What the compiler resolved is what counts, so partial qualification,
/// aliases and global usings cannot hide a reference, and a using directive that nothing uses is no reference.
/// Nested and compiler-generated types (lambdas, async state machines) count as their outermost type.
/// </summary>
public static class TypeReferences
{
    private static readonly Dictionary<short, OperandType> Operands = typeof(OpCodes)
        .GetFields(BindingFlags.Public | BindingFlags.Static)
        .Select(f => (OpCode)f.GetValue(null)!)
        .ToDictionary(o => o.Value, o => o.OperandType);

    /// <summary>Every reference from a type defined in <paramref name="assemblyPath"/> to another type, excluding a type's references to itself.</summary>
    public static IReadOnlyList<TypeReference> Read(string assemblyPath)
    {
        using var stream = File.OpenRead(assemblyPath);
        using var pe = new PEReader(stream);
        var reader = pe.GetMetadataReader();
        var names = new Names(reader);
        var found = new HashSet<TypeReference>();
        foreach (var handle in reader.TypeDefinitions)
        {
            var from = names.Outermost(handle);
            if (from is null)
            {
                continue;
            }

            foreach (var used in UsedBy(reader, pe, handle))
            {
                if (names.Of(used) is { } to && to.Name != from.Value.Name)
                {
                    found.Add(new TypeReference(from.Value.Namespace, from.Value.Name, to.Assembly, to.Namespace, to.Name));
                }
            }
        }

        return [.. found];
    }

    private static IEnumerable<EntityHandle> UsedBy(MetadataReader reader, PEReader pe, TypeDefinitionHandle handle)
    {
        var type = reader.GetTypeDefinition(handle);
        var collector = new Collector();
        if (!type.BaseType.IsNil)
        {
            collector.Handles.Add(type.BaseType);
        }

        foreach (var implementation in type.GetInterfaceImplementations())
        {
            collector.Handles.Add(reader.GetInterfaceImplementation(implementation).Interface);
        }

        Attributes(reader, type.GetCustomAttributes(), collector);
        Constraints(reader, type.GetGenericParameters(), collector);
        foreach (var fieldHandle in type.GetFields())
        {
            var field = reader.GetFieldDefinition(fieldHandle);
            field.DecodeSignature(collector, null);
            Attributes(reader, field.GetCustomAttributes(), collector);
        }

        foreach (var methodHandle in type.GetMethods())
        {
            var method = reader.GetMethodDefinition(methodHandle);
            method.DecodeSignature(collector, null);
            Attributes(reader, method.GetCustomAttributes(), collector);
            Constraints(reader, method.GetGenericParameters(), collector);
            foreach (var parameter in method.GetParameters())
            {
                Attributes(reader, reader.GetParameter(parameter).GetCustomAttributes(), collector);
            }

            if (method.RelativeVirtualAddress != 0)
            {
                Body(reader, pe.GetMethodBody(method.RelativeVirtualAddress), collector);
            }
        }

        foreach (var propertyHandle in type.GetProperties())
        {
            var property = reader.GetPropertyDefinition(propertyHandle);
            property.DecodeSignature(collector, null);
            Attributes(reader, property.GetCustomAttributes(), collector);
        }

        return collector.Resolve(reader);
    }

    private static void Attributes(MetadataReader reader, CustomAttributeHandleCollection attributes, Collector collector)
    {
        foreach (var handle in attributes)
        {
            collector.Handles.Add(reader.GetCustomAttribute(handle).Constructor);
        }
    }

    private static void Constraints(MetadataReader reader, GenericParameterHandleCollection parameters, Collector collector)
    {
        foreach (var parameter in parameters)
        {
            foreach (var constraint in reader.GetGenericParameter(parameter).GetConstraints())
            {
                collector.Handles.Add(reader.GetGenericParameterConstraint(constraint).Type);
            }
        }
    }

    /// <summary>Locals and every token operand of the IL.</summary>
    private static void Body(MetadataReader reader, MethodBodyBlock body, Collector collector)
    {
        if (!body.LocalSignature.IsNil)
        {
            reader.GetStandaloneSignature(body.LocalSignature).DecodeLocalSignature(collector, null);
        }

        var il = body.GetILReader();
        while (il.RemainingBytes > 0)
        {
            short value = il.ReadByte();
            if (value == 0xFE)
            {
                value = unchecked((short)(0xFE00 | il.ReadByte()));
            }

            switch (Operands[value])
            {
                case OperandType.InlineField or OperandType.InlineMethod or OperandType.InlineTok or OperandType.InlineType or OperandType.InlineSig:
                    var token = il.ReadInt32();
                    if ((token >>> 24) != 0x70)
                    {
                        // Not a user string.
                        collector.Handles.Add(MetadataTokens.EntityHandle(token));
                    }

                    break;
                case OperandType.InlineString or OperandType.InlineI or OperandType.InlineBrTarget or OperandType.ShortInlineR:
                    il.ReadInt32();
                    break;
                case OperandType.InlineI8 or OperandType.InlineR:
                    il.ReadInt64();
                    break;
                case OperandType.InlineVar:
                    il.ReadInt16();
                    break;
                case OperandType.ShortInlineBrTarget or OperandType.ShortInlineI or OperandType.ShortInlineVar:
                    il.ReadByte();
                    break;
                case OperandType.InlineSwitch:
                    var targets = il.ReadInt32();
                    for (var i = 0; i < targets; i++)
                    {
                        il.ReadInt32();
                    }

                    break;
            }
        }
    }

    /// <summary>Collects the type handles a signature names, and any handle seen (resolved to types afterwards).</summary>
    private sealed class Collector : ISignatureTypeProvider<object?, object?>
    {
        public List<EntityHandle> Handles { get; } = [];

        /// <summary>The types behind the handles: member references and method specifications by the type they belong to and their signatures.</summary>
        public IEnumerable<EntityHandle> Resolve(MetadataReader reader)
        {
            var seen = new HashSet<EntityHandle>();
            var types = new List<EntityHandle>();
            for (var i = 0; i < Handles.Count; i++)
            {
                var handle = Handles[i];
                if (!seen.Add(handle))
                {
                    continue;
                }

                switch (handle.Kind)
                {
                    case HandleKind.TypeDefinition or HandleKind.TypeReference:
                        types.Add(handle);
                        break;
                    case HandleKind.TypeSpecification:
                        reader.GetTypeSpecification((TypeSpecificationHandle)handle).DecodeSignature(this, null);
                        break;
                    case HandleKind.MethodDefinition:
                        types.Add(reader.GetMethodDefinition((MethodDefinitionHandle)handle).GetDeclaringType());
                        break;
                    case HandleKind.FieldDefinition:
                        types.Add(reader.GetFieldDefinition((FieldDefinitionHandle)handle).GetDeclaringType());
                        break;
                    case HandleKind.MemberReference:
                        var member = reader.GetMemberReference((MemberReferenceHandle)handle);
                        Handles.Add(member.Parent);
                        if (member.GetKind() == MemberReferenceKind.Method)
                        {
                            member.DecodeMethodSignature(this, null);
                        }
                        else
                        {
                            member.DecodeFieldSignature(this, null);
                        }

                        break;
                    case HandleKind.MethodSpecification:
                        var specification = reader.GetMethodSpecification((MethodSpecificationHandle)handle);
                        Handles.Add(specification.Method);
                        specification.DecodeSignature(this, null);
                        break;
                    case HandleKind.StandaloneSignature:
                        var signature = reader.GetStandaloneSignature((StandaloneSignatureHandle)handle);
                        if (signature.GetKind() == StandaloneSignatureKind.Method)
                        {
                            signature.DecodeMethodSignature(this, null);
                        }

                        break;
                }
            }

            return types;
        }

        public object? GetTypeFromDefinition(MetadataReader reader, TypeDefinitionHandle handle, byte rawTypeKind) => Add(handle);

        public object? GetTypeFromReference(MetadataReader reader, TypeReferenceHandle handle, byte rawTypeKind) => Add(handle);

        public object? GetTypeFromSpecification(MetadataReader reader, object? genericContext, TypeSpecificationHandle handle, byte rawTypeKind) => Add(handle);

        public object? GetPrimitiveType(PrimitiveTypeCode typeCode) => null;

        public object? GetSZArrayType(object? elementType) => null;

        public object? GetArrayType(object? elementType, ArrayShape shape) => null;

        public object? GetByReferenceType(object? elementType) => null;

        public object? GetPointerType(object? elementType) => null;

        public object? GetPinnedType(object? elementType) => null;

        public object? GetGenericInstantiation(object? genericType, ImmutableArray<object?> typeArguments) => null;

        public object? GetGenericTypeParameter(object? genericContext, int index) => null;

        public object? GetGenericMethodParameter(object? genericContext, int index) => null;

        public object? GetFunctionPointerType(MethodSignature<object?> signature) => null;

        public object? GetModifiedType(object? modifier, object? unmodifiedType, bool isRequired) => null;

        private object? Add(EntityHandle handle)
        {
            Handles.Add(handle);
            return null;
        }
    }

    /// <summary>Names types by their outermost type and assembly.</summary>
    private sealed class Names(MetadataReader reader)
    {
        private readonly string _ownAssembly = reader.GetString(reader.GetAssemblyDefinition().Name);

        public (string Namespace, string Name)? Outermost(TypeDefinitionHandle handle)
        {
            var type = reader.GetTypeDefinition(handle);
            while (type.GetDeclaringType() is { IsNil: false } declaring)
            {
                type = reader.GetTypeDefinition(declaring);
            }

            var name = reader.GetString(type.Name);
            if (name == "<Module>")
            {
                return null;
            }

            var ns = reader.GetString(type.Namespace);
            return (ns, ns.Length == 0 ? name : ns + "." + name);
        }

        public (string Assembly, string Namespace, string Name)? Of(EntityHandle handle) => handle.Kind switch
        {
            HandleKind.TypeDefinition when Outermost((TypeDefinitionHandle)handle) is { } own => (_ownAssembly, own.Namespace, own.Name),
            HandleKind.TypeReference => Reference((TypeReferenceHandle)handle),
            _ => null,
        };

        private (string Assembly, string Namespace, string Name)? Reference(TypeReferenceHandle handle)
        {
            var type = reader.GetTypeReference(handle);
            while (type.ResolutionScope.Kind == HandleKind.TypeReference)
            {
                type = reader.GetTypeReference((TypeReferenceHandle)type.ResolutionScope);
            }

            if (type.ResolutionScope.Kind != HandleKind.AssemblyReference)
            {
                return null;
            }

            var assembly = reader.GetString(reader.GetAssemblyReference((AssemblyReferenceHandle)type.ResolutionScope).Name);
            var ns = reader.GetString(type.Namespace);
            var name = reader.GetString(type.Name);
            return (assembly, ns, ns.Length == 0 ? name : ns + "." + name);
        }
    }
}
