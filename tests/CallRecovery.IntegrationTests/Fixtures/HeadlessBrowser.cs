using PuppeteerSharp;

namespace CallRecovery.IntegrationTests.Fixtures;

/// <summary>
/// Debian's Chromium, headless, driven over the DevTools protocol (PuppeteerSharp): pages as an engineer's browser
/// shows them, after their scripts ran. The test command installs the package when it is missing.
/// </summary>
public sealed class HeadlessBrowser : IAsyncDisposable
{
    private static readonly string[] Candidates = ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];

    private readonly IBrowser _browser;

    private HeadlessBrowser(IBrowser browser) => _browser = browser;

    public static async Task<HeadlessBrowser> StartAsync()
    {
        var executable = Candidates.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException("Chromium is not installed (Debian package 'chromium'): ./test.sh installs it before the tests run.");
        var browser = await Puppeteer.LaunchAsync(new LaunchOptions
        {
            ExecutablePath = executable,
            Headless = true,
            // As root (CI) Chromium refuses its sandbox; /dev/shm is small in containers.
            Args = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"],
            Timeout = (int)Eventually.Limit.TotalMilliseconds,
        });
        return new HeadlessBrowser(browser);
    }

    /// <summary>
    /// Opens <paramref name="signIn"/> then <paramref name="page"/> in one tab, waits until the page's visible text has every
    /// one of <paramref name="texts"/>, saves a screenshot of it to <paramref name="screenshot"/> and returns the text.
    /// </summary>
    public async Task<string> ShowAsync(Uri signIn, Uri page, IReadOnlyList<string> texts, string screenshot, TimeSpan timeout)
    {
        await using var tab = await _browser.NewPageAsync();
        await tab.SetViewportAsync(new ViewPortOptions { Width = 1600, Height = 1400 });
        await tab.GoToAsync(signIn.ToString(), (int)timeout.TotalMilliseconds, [WaitUntilNavigation.Load]);
        await tab.GoToAsync(page.ToString(), (int)timeout.TotalMilliseconds, [WaitUntilNavigation.Load]);
        try
        {
            await tab.WaitForFunctionAsync(
                "texts => texts.every(t => document.body && document.body.innerText.includes(t))",
                new WaitForFunctionOptions { Timeout = (int)timeout.TotalMilliseconds, PollingInterval = 250 },
                texts);
        }
        finally
        {
            // Saved whatever it shows: when a span is missing, the screenshot says what was there instead.
            Directory.CreateDirectory(Path.GetDirectoryName(screenshot)!);
            await tab.ScreenshotAsync(screenshot, new ScreenshotOptions { FullPage = true });
        }

        return await tab.EvaluateExpressionAsync<string>("document.body.innerText");
    }

    public async ValueTask DisposeAsync()
    {
        await _browser.CloseAsync();
        await _browser.DisposeAsync();
    }
}
