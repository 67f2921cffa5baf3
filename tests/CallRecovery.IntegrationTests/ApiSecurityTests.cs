using System.Net;
using System.Net.Http.Headers;
using System.Net.Http.Json;
using System.Text.Json;
using CallRecovery.Contracts;
using CallRecovery.IntegrationTests.Fixtures;

namespace CallRecovery.IntegrationTests;

/// <summary>
/// The HTTP API's personal-data endpoints: only callers holding the scope, each port only its own routes, every
/// opt-out change audited. Real Kestrel sockets on loopback; tokens signed with a key the service is configured with.
/// </summary>
[Collection(RealInfrastructure.Name)]
public sealed class ApiSecurityTests(Infrastructure infrastructure) : IDisposable
{
    private readonly TestCertificates _certificates = new();

    /// <summary>Each personal-data endpoint, the scope it needs, and what it answers when allowed.</summary>
    public static TheoryData<string, string, string, HttpStatusCode> Endpoints => new()
    {
        { "GET", "/v1/calls/call-unknown", "calls:read", HttpStatusCode.NotFound },
        { "GET", "/v1/incidents", "calls:read", HttpStatusCode.OK },
        { "GET", "/v1/incidents/cell-0123456789abcdef-1765000000000", "calls:read", HttpStatusCode.NotFound },
        { "GET", "/v1/subscribers/%2B447700900123/opt-out", "subscribers:read", HttpStatusCode.OK },
        { "PUT", "/v1/subscribers/%2B447700900123/opt-out", "optout:write", HttpStatusCode.OK },
        { "DELETE", "/v1/subscribers/%2B447700900123/opt-out", "optout:write", HttpStatusCode.OK },
    };

    [Theory]
    [MemberData(nameof(Endpoints))]
    public async Task A_personal_data_endpoint_refuses_callers_without_its_scope_and_serves_those_with_it(string method, string path, string scope, HttpStatusCode allowed)
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        _certificates.ApplyJwtTo(settings);
        await using var service = new ServiceHost(settings).Started();
        using var http = service.CreateHttpClient();

        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(http, method, path, token: null));
        Assert.Equal(HttpStatusCode.Forbidden, await SendAsync(http, method, path, _certificates.Token("engineer-1", "some:other calls:write")));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(http, method, path, _certificates.Token("engineer-1", scope, otherKey: true)));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(http, method, path, _certificates.Token("engineer-1", scope, audience: "someone-else")));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(http, method, path, _certificates.Token("engineer-1", scope, issuer: "https://evil.example")));
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(http, method, path, _certificates.Token("engineer-1", scope, expiresIn: TimeSpan.FromMinutes(-5))));
        Assert.Equal(allowed, await SendAsync(http, method, path, _certificates.Token("engineer-1", $"openid {scope}")));

        // Health and metrics stay open (and carry no personal data).
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/health/live", UriKind.Relative))).StatusCode);
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/metrics", UriKind.Relative))).StatusCode);
    }

    [Fact]
    public async Task Each_port_serves_only_what_it_is_for()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        _certificates.ApplyJwtTo(settings);
        await using var service = new ServiceHost(settings).Started();
        var token = _certificates.Token("engineer-1", "calls:read subscribers:read optout:write");

        // The switching port (HTTP/2 only) does not serve the HTTP API, health or metrics, not even with a valid token.
        using var h2 = new HttpClient { BaseAddress = service.SwitchingAddress, DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact, Timeout = TimeSpan.FromSeconds(10) };
        foreach (var (method, path) in new[] { ("GET", "/v1/calls/call-1"), ("GET", "/v1/subscribers/%2B447700900123/opt-out"), ("PUT", "/v1/subscribers/%2B447700900123/opt-out"), ("DELETE", "/v1/subscribers/%2B447700900123/opt-out"), ("GET", "/metrics"), ("GET", "/health/ready") })
        {
            Assert.Equal((method, path, HttpStatusCode.NotFound), (method, path, await SendAsync(h2, method, path, token)));
        }

        // A Host header naming the other port changes nothing: the socket decides.
        using var spoofed = new HttpRequestMessage(HttpMethod.Get, "/v1/calls/call-1") { Version = HttpVersion.Version20, VersionPolicy = HttpVersionPolicy.RequestVersionExact };
        spoofed.Headers.Host = service.HttpAddress.Authority;
        spoofed.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        Assert.Equal(HttpStatusCode.NotFound, (await h2.SendAsync(spoofed)).StatusCode);

        // The HTTP port does not serve the gRPC services (nor gRPC health).
        using var http = service.CreateHttpClient();
        foreach (var path in new[] { "/callrecovery.v1.Switching/Connect", "/callrecovery.v1.RecoveryLookup/GetTimeline", "/grpc.health.v1.Health/Check", "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo" })
        {
            using var content = new ByteArrayContent([0, 0, 0, 0, 0]);
            content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
            Assert.Equal(HttpStatusCode.NotFound, (await http.PostAsync(new Uri(path, UriKind.Relative), content)).StatusCode);
        }

        // Each still serves its own.
        Assert.Equal(HttpStatusCode.NotFound, await SendAsync(http, "GET", "/v1/calls/call-1", token));
        Assert.Equal(HttpStatusCode.OK, (await http.GetAsync(new Uri("/health/live", UriKind.Relative))).StatusCode);
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress(service.SwitchingAddress);
        var health = await new Grpc.Health.V1.Health.HealthClient(channel).CheckAsync(new Grpc.Health.V1.HealthCheckRequest()).ResponseAsync.DefaultTimeout();
        Assert.NotNull(health);
    }

    [Fact]
    public async Task Every_opt_out_change_is_audited_with_who_when_and_from_where()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        _certificates.ApplyJwtTo(settings);
        await using var service = new ServiceHost(settings).Started();
        using var http = service.CreateHttpClient();
        var number = scenario.Number(7);
        var path = $"/v1/subscribers/{Uri.EscapeDataString(number)}/opt-out";
        var before = DateTimeOffset.UtcNow.AddSeconds(-1);

        Assert.Equal(HttpStatusCode.OK, await SendAsync(http, "PUT", path, _certificates.Token("crm-agent-7", "optout:write")));
        var reader = _certificates.Token("auditor-1", "subscribers:read");
        var set = await GetOptOutAsync(http, path, reader);
        Assert.True(set.GetProperty("optedOut").GetBoolean());
        var since = set.GetProperty("since");
        Assert.Equal("crm-agent-7", since.GetProperty("by").GetString());
        Assert.Equal("127.0.0.1", since.GetProperty("from").GetString());
        Assert.InRange(since.GetProperty("at").GetDateTimeOffset(), before, DateTimeOffset.UtcNow.AddSeconds(1));
        Assert.DoesNotContain(number, set.GetRawText(), StringComparison.Ordinal);

        Assert.Equal(HttpStatusCode.OK, await SendAsync(http, "DELETE", path, _certificates.Token("crm-supervisor-2", "optout:write")));
        var removed = await GetOptOutAsync(http, path, reader);
        Assert.False(removed.GetProperty("optedOut").GetBoolean());
        var changes = removed.GetProperty("changes").EnumerateArray().ToList();
        Assert.Equal(2, changes.Count);
        Assert.Equal(("crm-supervisor-2", false), (changes[0].GetProperty("by").GetString(), changes[0].GetProperty("optedOut").GetBoolean()));
        Assert.Equal(("crm-agent-7", true), (changes[1].GetProperty("by").GetString(), changes[1].GetProperty("optedOut").GetBoolean()));
    }

    [Fact]
    public async Task Without_authentication_configured_the_API_answers_loopback_only_and_never_removes_an_opt_out()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        await using var service = new ServiceHost(scenario.Settings()).Started();
        using var http = service.CreateHttpClient();
        var path = $"/v1/subscribers/{Uri.EscapeDataString(scenario.Number(3))}/opt-out";

        Assert.Equal(HttpStatusCode.OK, await SendAsync(http, "PUT", path, token: null));
        var set = await GetOptOutAsync(http, path);
        Assert.Equal("anonymous (loopback)", set.GetProperty("since").GetProperty("by").GetString());
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(http, "DELETE", path, token: null));
        Assert.True((await GetOptOutAsync(http, path)).GetProperty("optedOut").GetBoolean());
    }

    [Fact]
    public async Task A_configured_API_client_certificate_gets_its_scopes_and_others_are_refused()
    {
        await using var scenario = await infrastructure.NewScenarioAsync(partitions: 1);
        var settings = scenario.Settings();
        _certificates.ApplyJwtTo(settings);
        _certificates.ApplyApiClientCertificatesTo(settings);
        await using var service = new ServiceHost(settings).Started();
        var path = $"/v1/subscribers/{Uri.EscapeDataString(scenario.Number(4))}/opt-out";

        using var crm = HttpsClient(service, _certificates.CrmCertificatePath, _certificates.CrmKeyPath);
        Assert.Equal(HttpStatusCode.OK, await SendAsync(crm, "PUT", path, token: null));
        Assert.Equal("cert:crm-gateway", (await GetOptOutAsync(crm, path)).GetProperty("since").GetProperty("by").GetString());
        // Granted subscribers:read and optout:write only.
        Assert.Equal(HttpStatusCode.Forbidden, await SendAsync(crm, "GET", "/v1/calls/call-1", token: null));

        using var unlisted = HttpsClient(service, _certificates.UnlistedApiClientCertificatePath, _certificates.UnlistedApiClientKeyPath);
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(unlisted, "GET", path, token: null));

        // A certificate of another CA does not get through the TLS handshake; no certificate at all falls back to tokens.
        using var rogue = HttpsClient(service, _certificates.RogueCertificatePath, _certificates.RogueKeyPath);
        await Assert.ThrowsAnyAsync<HttpRequestException>(() => rogue.GetAsync(new Uri(path, UriKind.Relative)));
        using var tokenOnly = HttpsClient(service, certificatePath: null, keyPath: null);
        Assert.Equal(HttpStatusCode.Unauthorized, await SendAsync(tokenOnly, "GET", path, token: null));
        Assert.Equal(HttpStatusCode.OK, await SendAsync(tokenOnly, "GET", path, _certificates.Token("engineer-1", "subscribers:read")));
    }

    public void Dispose() => _certificates.Dispose();

    private static async Task<HttpStatusCode> SendAsync(HttpClient http, string method, string path, string? token)
    {
        using var request = new HttpRequestMessage(new HttpMethod(method), new Uri(path, UriKind.Relative)) { Version = http.DefaultRequestVersion, VersionPolicy = http.DefaultVersionPolicy };
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await http.SendAsync(request).DefaultTimeout();
        return response.StatusCode;
    }

    private static async Task<JsonElement> GetOptOutAsync(HttpClient http, string path, string? token = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Get, new Uri(path, UriKind.Relative));
        if (token is not null)
        {
            request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", token);
        }

        using var response = await http.SendAsync(request).DefaultTimeout();
        response.EnsureSuccessStatusCode();
        return await response.Content.ReadFromJsonAsync<JsonElement>();
    }

    private HttpClient HttpsClient(ServiceHost service, string? certificatePath, string? keyPath)
    {
        var handler = new SocketsHttpHandler();
        PrivateCertificateAuthority.ConfigureClient(handler.SslOptions, certificatePath, keyPath, _certificates.AuthorityPath);
        return new HttpClient(handler) { BaseAddress = service.HttpAddress, Timeout = TimeSpan.FromSeconds(10) };
    }
}
