namespace Coherent.Lab.Report;

/// <summary>Prints a scenario's tables as aligned text.</summary>
internal static class ConsoleReport
{
    public static void Print(ScenarioResult result, TextWriter output)
    {
        output.WriteLine();
        output.WriteLine($"== {result.Title} ({result.Name})");
        output.WriteLine($"   {result.Question}");
        if (result.Preformatted is { } pre)
        {
            output.WriteLine(pre);
        }

        foreach (var table in result.Tables)
        {
            output.WriteLine();
            output.WriteLine($"-- {table.Title}");
            var widths = table.Columns.Select((c, i) => Math.Max(c.Length, table.Rows.Count == 0 ? 0 : table.Rows.Max(r => i < r.Length ? r[i].Length : 0))).ToArray();
            output.WriteLine(string.Join("  ", table.Columns.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
            output.WriteLine(string.Join("  ", widths.Select(w => new string('-', w))));
            foreach (var row in table.Rows)
            {
                output.WriteLine(string.Join("  ", row.Select((c, i) => c.PadRight(widths[i]))).TrimEnd());
            }
        }

        foreach (var note in result.Notes)
        {
            output.WriteLine($"   * {note}");
        }
    }
}
