using System.Diagnostics;
using System.Globalization;
using StackExchange.Redis;

namespace CallRecovery.IntegrationTests.Fixtures;

/// <summary>A three-master Redis Cluster of local redis-server processes (cluster-enabled), joined by redis-cli. Killed on dispose.</summary>
public sealed class RedisCluster : IRedisEndpoint
{
    private readonly string _directory = Directory.CreateTempSubdirectory("callrecovery-cluster-").FullName;
    private readonly List<Process> _nodes = [];
    private readonly int[] _ports = [RedisServer.FreePort(), RedisServer.FreePort(), RedisServer.FreePort()];

    public string ConnectionString => string.Join(',', _ports.Select(p => $"127.0.0.1:{p.ToString(CultureInfo.InvariantCulture)}"));

    public static async Task<RedisCluster> StartNewAsync()
    {
        var cluster = new RedisCluster();
        try
        {
            await cluster.StartAsync();
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public async Task StartAsync()
    {
        foreach (var port in _ports)
        {
            var folder = Directory.CreateDirectory(Path.Combine(_directory, port.ToString(CultureInfo.InvariantCulture))).FullName;
            var start = new ProcessStartInfo("redis-server")
            {
                ArgumentList = { "--port", port.ToString(CultureInfo.InvariantCulture), "--bind", "127.0.0.1", "--dir", folder, "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf" },
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            };
            var node = Process.Start(start) ?? throw new InvalidOperationException("redis-server did not start.");
            OwnedProcesses.Adopt(node);
            node.BeginOutputReadLine();
            node.BeginErrorReadLine();
            _nodes.Add(node);
        }

        await Eventually.TrueAsync(async () => (await Task.WhenAll(_ports.Select(Answers))).All(up => up), "every cluster node answers");
        var create = new ProcessStartInfo("redis-cli") { RedirectStandardOutput = true, RedirectStandardError = true, ArgumentList = { "--cluster", "create" } };
        foreach (var port in _ports)
        {
            create.ArgumentList.Add($"127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)}");
        }

        create.ArgumentList.Add("--cluster-yes");

        using (var cli = Process.Start(create)!)
        {
            var output = await cli.StandardOutput.ReadToEndAsync().WaitAsync(Eventually.Limit);
            await cli.WaitForExitAsync().WaitAsync(Eventually.Limit);
            if (cli.ExitCode != 0)
            {
                throw new InvalidOperationException("redis-cli --cluster create failed: " + output);
            }
        }

        await Eventually.TrueAsync(async () =>
        {
            await using var connection = await ConnectionMultiplexer.ConnectAsync(ConnectionString + ",allowAdmin=true");
            var info = await connection.GetServer($"127.0.0.1:{_ports[0].ToString(CultureInfo.InvariantCulture)}").ExecuteAsync("CLUSTER", "INFO");
            return info.ToString().Contains("cluster_state:ok", StringComparison.Ordinal);
        }, "the cluster reports cluster_state:ok");
    }

    public Task StopAsync()
    {
        foreach (var node in _nodes.Where(n => !n.HasExited))
        {
            node.Kill(entireProcessTree: true);
            OwnedProcesses.Release(node);
            node.WaitForExit();
        }

        return Task.CompletedTask;
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync();
        foreach (var node in _nodes)
        {
            node.Dispose();
        }

        Directory.Delete(_directory, recursive: true);
    }

    private static async Task<bool> Answers(int port)
    {
        try
        {
            await using var connection = await ConnectionMultiplexer.ConnectAsync($"127.0.0.1:{port.ToString(CultureInfo.InvariantCulture)},connectTimeout=500");
            await connection.GetDatabase().PingAsync();
            return true;
        }
        catch (RedisConnectionException)
        {
            return false;
        }
    }
}
