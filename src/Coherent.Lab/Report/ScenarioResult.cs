namespace Coherent.Lab.Report;

/// <summary>What one scenario measured: tables, charts and notes, for the console and the HTML report.</summary>
internal sealed class ScenarioResult(string name, string title, string question)
{
    public string Name { get; } = name;
    public string Title { get; } = title;

    /// <summary>The article's question this scenario answers.</summary>
    public string Question { get; } = question;

    public List<ResultTable> Tables { get; } = [];
    public List<Chart> Charts { get; } = [];
    public List<string> Notes { get; } = [];

    /// <summary>Text shown as-is (the policy table).</summary>
    public string? Preformatted { get; set; }

    /// <summary>False when a declared bound was broken where the design says it must hold.</summary>
    public bool Passed { get; set; } = true;
}

internal sealed class ResultTable(string title, params string[] columns)
{
    public string Title { get; } = title;
    public string[] Columns { get; } = columns;
    public List<string[]> Rows { get; } = [];

    public void Add(params string[] cells) => Rows.Add(cells);
}

internal enum ChartKind
{
    Line,
    Bar,
}

internal sealed class Chart(string title, ChartKind kind, string xLabel, string yLabel)
{
    public string Title { get; } = title;
    public ChartKind Kind { get; } = kind;
    public string XLabel { get; } = xLabel;
    public string YLabel { get; } = yLabel;
    public List<Series> Series { get; } = [];
}

internal sealed record Series(string Name, IReadOnlyList<(double X, double Y)> Points);
