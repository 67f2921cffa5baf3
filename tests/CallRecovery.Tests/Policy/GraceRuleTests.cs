using CallRecovery.Policy;

namespace CallRecovery.Tests.Policy;

public class GraceRuleTests
{
    private static readonly LearnedGraceOptions Options = new() { Enabled = true, Min = TimeSpan.FromSeconds(5), Max = TimeSpan.FromSeconds(60), MinDrops = 20 };
    private static readonly TimeSpan Default = TimeSpan.FromSeconds(20);

    private static PlaceRedials Seen(long drops, params (int Within, long Count)[] redials) =>
        new(drops, redials.Sum(r => r.Count), redials.ToDictionary(r => r.Within, r => r.Count));

    [Fact]
    public void A_cell_where_people_redial_within_ten_seconds_waits_for_nine_in_ten_of_them_and_a_second_more()
    {
        var choice = GraceRule.Choose("234-15-1a2b-0c", Seen(100, (3, 10), (6, 15), (9, 12), (10, 8), (40, 5)), PlaceRedials.None, Options, Default);

        // 50 redials: 45 of them within 10 s.
        Assert.Equal(TimeSpan.FromSeconds(11), choice.Grace);
        Assert.Equal("cell", choice.Basis);
        Assert.Contains("50 of 100 drops redialled by themselves (50%), 90% of them within 10 s", choice.Why, StringComparison.Ordinal);
    }

    [Fact]
    public void The_choice_keeps_within_its_bounds()
    {
        Assert.Equal(TimeSpan.FromSeconds(5), GraceRule.Choose("c-1", Seen(50, (1, 30)), PlaceRedials.None, Options, Default).Grace);
        var slow = GraceRule.Choose("c-1", Seen(50, (200, 30)), PlaceRedials.None, Options, Default);
        Assert.Equal(TimeSpan.FromSeconds(60), slow.Grace);
        Assert.Contains("bounded to 60 s", slow.Why, StringComparison.Ordinal);
    }

    [Fact]
    public void Where_people_rarely_redial_there_is_nothing_to_wait_for()
    {
        var choice = GraceRule.Choose("c-1", Seen(400, (8, 3)), PlaceRedials.None, Options, Default);
        Assert.Equal(("rare", TimeSpan.FromSeconds(5)), (choice.Basis, choice.Grace));
    }

    [Fact]
    public void A_cell_with_too_few_drops_falls_back_to_its_area_then_to_the_default()
    {
        var area = GraceRule.Choose("234-15-1a2b-0c", Seen(5, (2, 5)), Seen(80, (14, 40)), Options, Default);
        Assert.Equal(("area", TimeSpan.FromSeconds(15)), (area.Basis, area.Grace));
        Assert.Contains("area 234-15-1a2b", area.Why, StringComparison.Ordinal);

        var fallback = GraceRule.Choose("234-15-1a2b-0c", Seen(5, (2, 5)), Seen(10), Options, Default);
        Assert.Equal(("default", Default), (fallback.Basis, fallback.Grace));
    }

    [Theory]
    [InlineData("234-15-1a2b-0c", "234-15-1a2b")]
    [InlineData("cell7", null)]
    public void A_cells_area_is_its_id_without_the_last_part(string cell, string? area) => Assert.Equal(area, GraceRule.AreaOf(cell));

    [Theory]
    [InlineData(0.2, 1)]
    [InlineData(1.0, 1)]
    [InlineData(1.04, 1)]
    [InlineData(1.06, 2)]
    [InlineData(9.5, 10)]
    public void A_redial_counts_in_whole_seconds_rounded_up(double seconds, int bucket) => Assert.Equal(bucket, GraceRule.BucketOf(TimeSpan.FromSeconds(seconds)));
}
