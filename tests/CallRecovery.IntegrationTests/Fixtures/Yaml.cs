using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace CallRecovery.IntegrationTests.Fixtures;

/// <summary>YAML documents as plain maps, lists and strings, with merge keys (compose's <c>&lt;&lt;: *anchor</c>) resolved.</summary>
public static class Yaml
{
    private static readonly IDeserializer Deserializer = new DeserializerBuilder().Build();

    public static IReadOnlyList<Dictionary<object, object>> Documents(string text)
    {
        using var reader = new StringReader(text);
        var parser = new MergingParser(new Parser(reader));
        parser.Consume<StreamStart>();
        var documents = new List<Dictionary<object, object>>();
        while (parser.Accept<DocumentStart>(out _))
        {
            if (Deserializer.Deserialize<object>(parser) is Dictionary<object, object> document)
            {
                documents.Add(document);
            }
        }

        return documents;
    }

    public static Dictionary<object, object> Document(string text) => Documents(text).Single();

    /// <summary>The map at a path of keys; empty when any step is missing.</summary>
    public static Dictionary<object, object> Map(this Dictionary<object, object> map, params string[] path)
    {
        var current = map;
        foreach (var key in path)
        {
            if (!current.TryGetValue(key, out var next) || next is not Dictionary<object, object> child)
            {
                return [];
            }

            current = child;
        }

        return current;
    }

    public static List<object> List(this Dictionary<object, object> map, string key) => map.TryGetValue(key, out var value) && value is List<object> list ? list : [];

    public static string? Text(this Dictionary<object, object> map, params string[] path) =>
        map.Map(path[..^1]).TryGetValue(path[^1], out var value) ? value?.ToString() : null;

    public static IEnumerable<Dictionary<object, object>> Maps(this List<object> list) => list.OfType<Dictionary<object, object>>();
}
