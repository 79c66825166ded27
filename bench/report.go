package bench

import (
	"fmt"
	"image/color"
	"io"
	"path/filepath"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

func label(p Program) string {
	if p.Object == "" {
		return p.Name
	}
	return p.Object + ":" + p.Name
}

func num(n int) string {
	if n < 0 {
		return "-"
	}
	return fmt.Sprint(n)
}

func arrow(b int, a *Side, get func(Side) int) string {
	if a == nil {
		return num(b)
	}
	return num(b) + " → " + num(get(*a))
}

func latency(s Stat) string {
	if s.N == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f [%.1f, %.1f]", s.Median, s.Lo, s.Hi)
}

// WriteTable writes a markdown table: latency as median [CI of the mean]
// in ns/run, the paired change with its interval, sizes before → after.
func WriteTable(w io.Writer, progs []Program, confidence float64) {
	ci := fmt.Sprintf("%.0f%% CI", 100*confidence)
	fmt.Fprintf(w, "| program | type | inputs | ns/run before: median [%s] | after | change %% [%s] | JIT bytes | xlated insns | verifier insns | note |\n", ci, ci)
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
	for _, p := range progs {
		after, change := "-", "-"
		if p.After != nil {
			after = latency(p.After.Latency)
		}
		if p.Change.N > 0 {
			change = fmt.Sprintf("%+.1f [%+.1f, %+.1f]", p.Change.Mean, p.Change.Lo, p.Change.Hi)
			if p.Change.Excludes(0) {
				change = "**" + change + "**"
			}
		}
		note := p.Note
		if p.Mismatch != "" {
			note = strings.TrimSpace(note + " MISMATCH " + p.Mismatch)
		}
		fmt.Fprintf(w, "| %s | %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", label(p), p.Type, p.Inputs,
			latency(p.Before.Latency), after, change,
			arrow(p.Before.JITBytes, p.After, func(s Side) int { return s.JITBytes }),
			arrow(p.Before.XlatInsns, p.After, func(s Side) int { return s.XlatInsns }),
			arrow(p.Before.Processed, p.After, func(s Side) int { return s.Processed }),
			strings.ReplaceAll(note, "|", `\|`))
	}
}

// changes implements plotter.XYer and plotter.XErrorer over the programs
// with a measured change: x the mean change, y the row.
type changes struct{ ps []Program }

func (c changes) Len() int                    { return len(c.ps) }
func (c changes) XY(i int) (float64, float64) { return c.ps[i].Change.Mean, float64(i) }
func (c changes) XError(i int) (float64, float64) {
	s := c.ps[i].Change
	return s.Mean - s.Lo, s.Hi - s.Mean
}

// Plot writes a chart of each program's latency change (mean and
// interval, in percent; negative is faster) and JIT size change. The
// format follows the file's extension (.svg, .png, .pdf).
func Plot(progs []Program, path string) error {
	var ps []Program
	for _, p := range progs {
		if p.Change.N > 0 {
			ps = append(ps, p)
		}
	}
	if len(ps) == 0 {
		return fmt.Errorf("plot %s: no program with a before/after latency", path)
	}
	pl := plot.New()
	pl.Title.Text = "kernel-measured latency change per program (mean, CI)"
	pl.X.Label.Text = "latency change % (after vs before; negative = faster)"
	names := make([]string, len(ps))
	for i, p := range ps {
		names[i] = label(p)
	}
	pl.NominalY(names...)
	pl.Add(plotter.NewGrid())
	c := changes{ps}
	sc, err := plotter.NewScatter(c)
	if err != nil {
		return err
	}
	sc.GlyphStyle.Shape = draw.CircleGlyph{}
	sc.GlyphStyle.Color = color.RGBA{R: 0x1f, G: 0x77, B: 0xb4, A: 0xff}
	eb, err := plotter.NewXErrorBars(c)
	if err != nil {
		return err
	}
	jit := plotter.XYs{}
	for i, p := range ps {
		if p.After != nil && p.Before.JITBytes > 0 && p.After.JITBytes >= 0 {
			jit = append(jit, plotter.XY{X: 100 * float64(p.After.JITBytes-p.Before.JITBytes) / float64(p.Before.JITBytes), Y: float64(i)})
		}
	}
	js, err := plotter.NewScatter(jit)
	if err != nil {
		return err
	}
	js.GlyphStyle.Shape = draw.CrossGlyph{}
	js.GlyphStyle.Color = color.RGBA{R: 0xd6, G: 0x27, B: 0x28, A: 0xff}
	// a vertical line at 0
	lo, hi := -0.5, float64(len(ps))-0.5
	axis, err := plotter.NewLine(plotter.XYs{{X: 0, Y: lo}, {X: 0, Y: hi}})
	if err != nil {
		return err
	}
	axis.Color = color.Gray{Y: 0x60}
	pl.Add(axis, eb, sc, js)
	pl.Legend.Add("latency change (CI)", sc)
	pl.Legend.Add("JIT size change", js)
	pl.Legend.Top = true
	// room at the edges, and a row above the programs for the legend
	pad := (pl.X.Max - pl.X.Min) * 0.06
	pl.X.Min, pl.X.Max = pl.X.Min-pad, pl.X.Max+pad
	pl.Y.Max++
	h := vg.Length(len(ps))*0.28*vg.Inch + 1.5*vg.Inch
	switch strings.ToLower(filepath.Ext(path)) {
	case ".svg", ".png", ".pdf", ".jpg", ".jpeg":
	default:
		return fmt.Errorf("plot %s: want a .svg, .png or .pdf file name", path)
	}
	return pl.Save(9*vg.Inch, h, path)
}

// Totals is a one-paragraph summary of programs measured on both sides:
// how many changed significantly, the median change, the JIT size totals.
func Totals(progs []Program) string {
	var ch []float64
	faster, slower, jb, ja := 0, 0, 0, 0
	for _, p := range progs {
		if p.After != nil && p.Before.JITBytes > 0 && p.After.JITBytes > 0 {
			jb += p.Before.JITBytes
			ja += p.After.JITBytes
		}
		if p.Change.N == 0 {
			continue
		}
		ch = append(ch, p.Change.Mean)
		switch {
		case p.Change.Hi < 0:
			faster++
		case p.Change.Lo > 0:
			slower++
		}
	}
	if len(ch) == 0 {
		return ""
	}
	med := Summarize(ch, 0.95).Median
	s := fmt.Sprintf("%d programs timed: median latency change %+.1f%%; %d faster and %d slower with the interval excluding 0",
		len(ch), med, faster, slower)
	if jb > 0 {
		s += fmt.Sprintf("; JIT image %d -> %d bytes (%+.1f%%)", jb, ja, 100*float64(ja-jb)/float64(jb))
	}
	return s + "."
}
