using System.Globalization;
using System.Text.RegularExpressions;
using CallRecovery.IntegrationTests.Fixtures;
using Microsoft.Extensions.Configuration;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// The deployment files, checked without a Docker engine or a cluster: Kubernetes manifests rendered by
/// Kustomize and validated against the Kubernetes (and KEDA, Prometheus Operator) schemas; the compose file
/// against the Compose Specification; and both against the service's own configuration, so that a setting
/// the service does not read, a wrong topic or a port nobody listens on fails here, not in production.
/// </summary>
public sealed partial class DeploymentTests
{
    private const string Checks = "tools/deployment-checks";

    public static TheoryData<string> Overlays() => [.. OverlayNames()];

    private static IEnumerable<string> OverlayNames() =>
        Directory.GetDirectories(Repository.PathOf("k8s/overlays")).Select(d => Path.GetFileName(d)!).Order(StringComparer.Ordinal);

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task Each_overlay_renders_with_kustomize_and_passes_the_kubernetes_schemas(string overlay)
    {
        var rendered = await RenderAsync(overlay);
        var (exitCode, output, error) = await Repository.RunAsync("node", [$"{Checks}/kubernetes.mjs"], rendered);
        Assert.True(exitCode == 0, $"the {overlay} manifests are invalid:\n{output}\n{error}");
        Assert.Contains("ok Deployment/", output, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Overlays))]
    public async Task Each_overlay_configures_the_service_with_settings_it_reads_and_accepts(string overlay)
    {
        var objects = Yaml.Documents(await RenderAsync(overlay));
        var deployment = Assert.Single(objects, o => (string)o["kind"] == "Deployment");
        var container = Assert.Single(deployment.Map("spec", "template", "spec").List("containers").Maps());
        var environment = Environment(container, objects);

        // Files from mounted Secrets (the switching TLS material) and ConfigMaps (the rollout) are where the settings
        // point, under the names their keys give them: the settings are checked against a copy of that layout (a
        // ConfigMap's files with their content, so the service reads them as it would in the pod).
        using var mounted = new TemporaryDirectory();
        var pod = deployment.Map("spec", "template", "spec");
        var copies = new Dictionary<string, (string Directory, string? SecretName)>(StringComparer.Ordinal);
        foreach (var mount in container.List("volumeMounts").Maps())
        {
            var volume = pod.List("volumes").Maps().Single(v => v.Text("name") == mount.Text("name"));
            var secretName = volume.Text("secret", "secretName");
            var directory = Directory.CreateDirectory(Path.Combine(mounted.Path, mount.Text("name")!)).FullName;
            foreach (var key in secretName is null ? [] : SecretKeys(secretName, objects))
            {
                await File.WriteAllTextAsync(Path.Combine(directory, key), "mounted from " + secretName);
            }

            var configMapName = volume.Text("configMap", "name");
            var configMap = configMapName is null ? null : Assert.Single(objects, o => (string)o["kind"] == "ConfigMap" && o.Text("metadata", "name") == configMapName);
            foreach (var (key, content) in configMap?.Map("data") ?? [])
            {
                await File.WriteAllTextAsync(Path.Combine(directory, (string)key), (string)content);
            }

            copies[mount.Text("mountPath")!.TrimEnd('/') + "/"] = (directory, secretName ?? configMapName);
        }

        foreach (var (name, value) in environment.ToList())
        {
            if (copies.Keys.Where(m => value?.StartsWith(m, StringComparison.Ordinal) == true).MaxBy(m => m.Length) is { } mountPath)
            {
                environment[name] = Path.Combine(copies[mountPath].Directory, value![mountPath.Length..]);
                Assert.True(File.Exists(environment[name]), $"{name}={value}: no such key in the Secret or ConfigMap {copies[mountPath].SecretName} mounted at {mountPath}");
            }
        }

        var problems = ServiceSettings.Problems(environment);
        Assert.True(problems.Count == 0, $"{overlay}:\n" + string.Join('\n', problems));

        // Probes and the Service reach the ports the service listens on.
        var configuration = ServiceSettings.Configuration(environment);
        var httpPort = PortOf(configuration["Kestrel:Endpoints:Http:Url"]);
        var grpcPort = PortOf(configuration["Kestrel:Endpoints:Switching:Url"]);
        var ports = container.List("ports").Maps().ToDictionary(p => p.Text("name")!, p => int.Parse(p.Text("containerPort")!, CultureInfo.InvariantCulture));
        Assert.Equal(httpPort, ports.Values.Single(p => p == httpPort));
        Assert.Equal(grpcPort, ports.Values.Single(p => p == grpcPort));
        Assert.Equal("/health/live", container.Text("livenessProbe", "httpGet", "path"));
        Assert.Equal("/health/ready", container.Text("readinessProbe", "httpGet", "path"));
        Assert.Equal(httpPort, ResolvePort(container.Text("readinessProbe", "httpGet", "port")!, ports));
        var service = Assert.Single(objects, o => (string)o["kind"] == "Service");
        Assert.All(service.Map("spec").List("ports").Maps(), p => Assert.Contains(ResolvePort(p.Text("targetPort")!, ports), ports.Values));

        // The switching port is secure by default in every overlay: TLS with the service's own certificate, switch certificates required.
        Assert.False(configuration.GetValue<bool>("Switching:AllowInsecure"), $"{overlay} serves the switching port without client certificates");
        {
            Assert.StartsWith("https://", configuration["Kestrel:Endpoints:Switching:Url"], StringComparison.Ordinal);
            Assert.True(File.Exists(configuration["Kestrel:Endpoints:Switching:Certificate:Path"]), "the switching endpoint's certificate is not mounted");
            Assert.True(File.Exists(configuration["Kestrel:Endpoints:Switching:Certificate:KeyPath"]), "the switching endpoint's key is not mounted");
        }
    }

    [Fact]
    public async Task The_kubernetes_check_rejects_a_broken_manifest()
    {
        var rendered = await RenderAsync(OverlayNames().First());
        var broken = rendered.Replace("containerPort: 8080", "containerPort: eighty-eighty", StringComparison.Ordinal);
        Assert.NotEqual(rendered, broken);
        var (exitCode, output, error) = await Repository.RunAsync("node", [$"{Checks}/kubernetes.mjs"], broken);
        Assert.True(exitCode != 0, "a port that is not a number passed:\n" + output);
        Assert.Contains("containerPort", output + error, StringComparison.Ordinal);
    }

    [Fact]
    public async Task The_compose_file_follows_the_compose_specification()
    {
        var (exitCode, output, error) = await Repository.RunAsync("node", [$"{Checks}/compose.mjs", "docker-compose.yml"]);
        Assert.True(exitCode == 0, $"docker-compose.yml is invalid:\n{output}\n{error}");
    }

    [Fact]
    public async Task The_compose_check_rejects_a_broken_compose_file()
    {
        var broken = Path.Combine(Path.GetTempPath(), $"compose-{Guid.NewGuid():N}.yml");
        await File.WriteAllTextAsync(broken, Repository.Read("docker-compose.yml").Replace("condition: service_healthy", "condition: when_healthy", StringComparison.Ordinal));
        try
        {
            var (exitCode, output, _) = await Repository.RunAsync("node", [$"{Checks}/compose.mjs", broken]);
            Assert.True(exitCode != 0, "an unknown depends_on condition passed:\n" + output);
            Assert.Contains("condition", output, StringComparison.Ordinal);
        }
        finally
        {
            File.Delete(broken);
        }
    }

    [Fact]
    public async Task The_compose_stack_configures_the_service_with_settings_it_reads_and_accepts()
    {
        // The certificates volume as tools/make-certificates.sh fills it (the same script, into a directory here).
        var services = Compose().Map("services");
        using var certificates = new TemporaryDirectory();
        var (exitCode, output, error) = await Repository.RunAsync("sh", ["tools/make-certificates.sh", certificates.Path]);
        Assert.True(exitCode == 0, $"make-certificates.sh failed:\n{output}\n{error}");
        var environment = ComposeEnvironment(services.Map("callrecovery"))
            .ToDictionary(e => e.Key, e => e.Value?.StartsWith("/certs/", StringComparison.Ordinal) == true ? Path.Combine(certificates.Path, e.Value["/certs/".Length..]) : e.Value, StringComparer.Ordinal);
        var problems = ServiceSettings.Problems(environment);
        Assert.True(problems.Count == 0, string.Join('\n', problems));

        var configuration = ServiceSettings.Configuration(environment);
        Assert.False(configuration.GetValue<bool>("Switching:AllowInsecure"), "the compose stack serves the switching port without client certificates");
        Assert.True(File.Exists(configuration["Kestrel:Endpoints:Switching:Certificate:Path"]), "the script makes no service certificate where compose points");
        var emulator = Arguments(services.Map("switch-emulator"));
        foreach (var file in new[] { emulator["--client-cert"], emulator["--client-key"], emulator["--server-ca"] })
        {
            Assert.True(File.Exists(Path.Combine(certificates.Path, file["/certs/".Length..])), $"the emulator's {file} is not made by the script");
        }
    }

    [Fact]
    public void The_compose_stack_wires_topics_switches_traces_and_metrics_to_what_the_service_uses()
    {
        var compose = Compose();
        var services = compose.Map("services");
        var configuration = ServiceSettings.Configuration(ComposeEnvironment(services.Map("callrecovery")));
        var inputTopic = configuration["Kafka:InputTopics:0"]!;

        // Kafka: every topic the service reads or writes is created, and the simulator writes the one it reads.
        var topicInit = string.Join('\n', services.Map("kafka-init").List("command"));
        foreach (var topic in new[] { inputTopic, configuration["Kafka:DeadLetterTopic"]!, configuration["Kafka:OutcomeTopic"]!, configuration["Kafka:CompensationTopic"]!, configuration["Kafka:ShadowOutcomeTopic"]! })
        {
            Assert.Contains(topic + ":", topicInit, StringComparison.Ordinal);
        }

        var simulator = Arguments(services.Map("traffic-simulator"));
        Assert.Equal(inputTopic, simulator["--topic"]);
        Assert.Equal(configuration["Kafka:BootstrapServers"], simulator["--bootstrap-servers"]);
        Assert.StartsWith("kafka:", configuration["Kafka:BootstrapServers"], StringComparison.Ordinal);
        Assert.Contains("PLAINTEXT://kafka:9092", services.Map("kafka").Text("environment", "KAFKA_ADVERTISED_LISTENERS"), StringComparison.Ordinal);
        Assert.Equal("redis:6379", configuration["Redis:ConnectionString"]);

        // Switches: the emulator connects to the service's gRPC port as the switch the service routes to.
        var emulator = Arguments(services.Map("switch-emulator"));
        Assert.Equal($"https://callrecovery:{PortOf(configuration["Kestrel:Endpoints:Switching:Url"])}", emulator["--service"]);
        Assert.Equal(configuration["Switching:DefaultSwitch"], emulator["--switch-id"]);

        // Traces go to the collector's OTLP receiver, and on to Jaeger.
        var otlp = new Uri(ComposeEnvironment(services.Map("callrecovery"))["OTEL_EXPORTER_OTLP_ENDPOINT"]!);
        Assert.True(services.ContainsKey(otlp.Host), $"no compose service {otlp.Host}");
        var collector = Yaml.Document(Repository.Read("deploy/otel-collector.yaml"));
        Assert.EndsWith($":{otlp.Port}", collector.Text("receivers", "otlp", "protocols", "grpc", "endpoint"), StringComparison.Ordinal);
        Assert.Contains("otlp/jaeger", collector.Map("service", "pipelines", "traces").List("exporters").Cast<string>());
        Assert.StartsWith("jaeger:", collector.Text("exporters", "otlp/jaeger", "endpoint"), StringComparison.Ordinal);

        // Prometheus scrapes the service's HTTP port.
        var prometheus = Yaml.Document(Repository.Read("deploy/prometheus.yml"));
        var target = prometheus.List("scrape_configs").Maps().Single().List("static_configs").Maps().Single().List("targets").Single();
        Assert.Equal($"callrecovery:{PortOf(configuration["Kestrel:Endpoints:Http:Url"])}", target);

        // Every image built comes from a stage of the Dockerfile, and every mounted file exists.
        var stages = DockerfileStages().Select(s => s.Name).ToHashSet(StringComparer.Ordinal);
        foreach (var service in services.Values.Cast<Dictionary<object, object>>())
        {
            if (service.Text("build", "target") is { } stage)
            {
                Assert.Contains(stage, stages);
            }

            foreach (var volume in service.List("volumes").Cast<string>().Where(v => v.StartsWith("./", StringComparison.Ordinal)))
            {
                var source = volume.Split(':')[0];
                Assert.True(File.Exists(Repository.PathOf(source)) || Directory.Exists(Repository.PathOf(source)), $"{source} is mounted but does not exist");
            }
        }
    }

    [Fact]
    public void The_dockerfile_copies_what_exists_and_starts_what_the_projects_build()
    {
        var dockerfile = Repository.Read("Dockerfile");
        foreach (Match copy in CopyFromContext().Matches(dockerfile))
        {
            foreach (var source in copy.Groups["sources"].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                Assert.True(File.Exists(Repository.PathOf(source)) || Directory.Exists(Repository.PathOf(source)), $"the Dockerfile copies {source}, which does not exist");
            }
        }

        var runtimeStages = DockerfileStages().Where(s => s.Entrypoint is not null).ToList();
        Assert.Equal(["service", "traffic-simulator", "switch-emulator", "lookup", "redrive"], runtimeStages.Select(s => s.Name));
        foreach (var (name, entrypoint) in runtimeStages)
        {
            // The tests are built beside the service and the tools: the same assemblies the images start.
            Assert.True(File.Exists(Path.Combine(AppContext.BaseDirectory, entrypoint!)), $"stage {name} starts {entrypoint}, which no project builds");
        }

        Assert.Equal(runtimeStages.Count, NonRootUser().Count(dockerfile));
    }

    private static async Task<string> RenderAsync(string overlay)
    {
        var (exitCode, output, error) = await Repository.RunAsync("kubectl", ["kustomize", $"k8s/overlays/{overlay}"]);
        Assert.True(exitCode == 0, $"kubectl kustomize k8s/overlays/{overlay} failed:\n{error}");
        return output;
    }

    /// <summary>
    /// A container's environment as the service will see it: the ConfigMaps and Secrets it takes whole (a
    /// Secret may be one that an ExternalSecret creates), then its env entries, with $(VAR) references
    /// expanded and the helper variables they use (the pod's name from the downward API) set aside.
    /// </summary>
    private static Dictionary<string, string?> Environment(Dictionary<object, object> container, IReadOnlyList<Dictionary<object, object>> objects)
    {
        var environment = new Dictionary<string, string?>(StringComparer.Ordinal);
        foreach (var source in container.List("envFrom").Maps())
        {
            var (kind, reference) = source.ContainsKey("configMapRef") ? ("ConfigMap", source.Map("configMapRef")) : ("Secret", source.Map("secretRef"));
            var name = reference.Text("name");
            var found = objects.SingleOrDefault(o => (string)o["kind"] == kind && o.Text("metadata", "name") == name);
            var external = objects.SingleOrDefault(o => kind == "Secret" && (string)o["kind"] == "ExternalSecret" && (o.Map("spec", "target").Text("name") ?? o.Text("metadata", "name")) == name);
            Assert.True(found is not null || external is not null, $"envFrom {kind} {name} is not in the manifests");
            foreach (var key in new[] { "data", "stringData" })
            {
                foreach (var (k, v) in found?.Map(key) ?? [])
                {
                    environment[(string)k] = key == "data" && kind == "Secret" ? System.Text.Encoding.UTF8.GetString(Convert.FromBase64String((string)v)) : v?.ToString();
                }
            }

            foreach (var item in external?.Map("spec").List("data").Maps() ?? [])
            {
                // Long enough for any length rule (a subscriber key secret needs 32 characters).
                environment[item.Text("secretKey")!] = "from-the-secret-store-a-value-of-forty-chars";
            }
        }

        var helpers = new HashSet<string>(StringComparer.Ordinal);
        foreach (var variable in container.List("env").Maps())
        {
            // A value from the downward API or a Secret key stands for a real value at run time.
            var value = VariableReference().Replace(variable.Text("value") ?? "from-the-cluster", m =>
            {
                helpers.Add(m.Groups["name"].Value);
                return environment.GetValueOrDefault(m.Groups["name"].Value) ?? string.Empty;
            });
            environment[variable.Text("name")!] = value;
        }

        foreach (var helper in helpers)
        {
            environment.Remove(helper);
        }

        return environment;
    }

    /// <summary>The keys of a Secret in the manifests, or of the Secret an ExternalSecret there creates.</summary>
    private static IEnumerable<string> SecretKeys(string name, IReadOnlyList<Dictionary<object, object>> objects)
    {
        var secret = objects.SingleOrDefault(o => (string)o["kind"] == "Secret" && o.Text("metadata", "name") == name);
        var external = objects.SingleOrDefault(o => (string)o["kind"] == "ExternalSecret" && (o.Map("spec", "target").Text("name") ?? o.Text("metadata", "name")) == name);
        return secret is not null
            ? secret.Map("data").Keys.Concat(secret.Map("stringData").Keys).Cast<string>()
            : external?.Map("spec").List("data").Maps().Select(d => d.Text("secretKey")!) ?? [];
    }

    private static int ResolvePort(string port, Dictionary<string, int> named) =>
        int.TryParse(port, CultureInfo.InvariantCulture, out var number) ? number : named[port];

    private static int PortOf(string? url) => new Uri(url!.Replace("0.0.0.0", "localhost", StringComparison.Ordinal).Replace("*", "localhost", StringComparison.Ordinal)).Port;

    private static Dictionary<object, object> Compose() => Yaml.Document(Repository.Read("docker-compose.yml"));

    private static Dictionary<string, string?> ComposeEnvironment(Dictionary<object, object> service) =>
        service.Map("environment").ToDictionary(e => (string)e.Key, e => e.Value?.ToString(), StringComparer.Ordinal);

    /// <summary>A command's "--name value" pairs.</summary>
    private static Dictionary<string, string> Arguments(Dictionary<object, object> service)
    {
        var command = service.List("command").Cast<string>().ToList();
        return Enumerable.Range(0, command.Count / 2).ToDictionary(i => command[2 * i], i => command[(2 * i) + 1], StringComparer.Ordinal);
    }

    private static IEnumerable<(string Name, string? Entrypoint)> DockerfileStages()
    {
        string? stage = null;
        string? entrypoint = null;
        foreach (var line in Repository.Read("Dockerfile").Split('\n'))
        {
            if (StageStart().Match(line) is { Success: true } start)
            {
                if (stage is not null)
                {
                    yield return (stage, entrypoint);
                }

                (stage, entrypoint) = (start.Groups["name"].Value, null);
            }
            else if (Entrypoint().Match(line) is { Success: true } entry)
            {
                entrypoint = entry.Groups["dll"].Value;
            }
        }

        if (stage is not null)
        {
            yield return (stage, entrypoint);
        }
    }

    private sealed class TemporaryDirectory : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("callrecovery-mounts-").FullName;

        public void Dispose() => Directory.Delete(Path, recursive: true);
    }

    [GeneratedRegex(@"\$\((?<name>[A-Za-z_][A-Za-z0-9_]*)\)")]
    private static partial Regex VariableReference();

    [GeneratedRegex(@"^FROM \S+ AS (?<name>[a-z-]+)\s*$", RegexOptions.Multiline)]
    private static partial Regex StageStart();

    [GeneratedRegex(@"^ENTRYPOINT \[""dotnet"", ""(?<dll>[^""]+)""\]", RegexOptions.Multiline)]
    private static partial Regex Entrypoint();

    [GeneratedRegex(@"^COPY (?!--from)(?<sources>.+) \S+$", RegexOptions.Multiline)]
    private static partial Regex CopyFromContext();

    [GeneratedRegex(@"^USER 10001:10001$", RegexOptions.Multiline)]
    private static partial Regex NonRootUser();
}
