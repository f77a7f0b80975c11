package ui

import (
	"cmp"
	"fmt"
	"github.com/moments-cs/moments/internal/vocab"
	"html/template"
	"math"
	"net/url"
	"slices"
	"strings"
)

// Charts are server-rendered SVG: no chart library, no JavaScript, crisp
// when printed. Every chart has a title and a description for screen
// readers, and the page shows the same numbers in a table beside it.

// scatterPoint is one account on the health quadrant.
type scatterPoint struct {
	ID, Name    string
	Behavioural float64
	Emotional   float64
	ARR         float64
	Quadrant    string
}

// healthScatter draws accounts by behavioural (x) and emotional (y) score,
// each a circle whose area grows with ARR, over the quadrant thresholds.
func healthScatter(points []scatterPoint, bThreshold, eThreshold float64) template.HTML {
	const (
		w, h         = 640.0, 420.0
		left, right  = 44.0, 18.0
		top, bottom  = 18.0, 38.0
		minR, maxR   = 3.0, 16.0
		plotW, plotH = w - left - right, h - top - bottom
	)
	x := func(v float64) float64 { return left + v/100*plotW }
	y := func(v float64) float64 { return top + (1-v/100)*plotH }
	maxARR := 0.0
	for _, p := range points {
		maxARR = math.Max(maxARR, p.ARR)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="group" aria-labelledby="scatter-t" aria-describedby="scatter-d" xmlns="http://www.w3.org/2000/svg">`, w, h)
	b.WriteString(`<title id="scatter-t">Health quadrant: accounts by behavioural and emotional score</title>`)
	fmt.Fprintf(&b, `<desc id="scatter-d">%d accounts; circle area grows with ARR. Right is higher behavioural score, up is higher emotional score.</desc>`, len(points))
	// Quadrant backgrounds and labels.
	bx, ey := x(bThreshold), y(eThreshold)
	quads := []struct {
		cls, label     string
		x0, y0, x1, y1 float64
		lx, ly         float64
		anchor         string
	}{
		{"q-" + vocab.QuadrantDormantFan, statusLabel(vocab.QuadrantDormantFan), left, top, bx, ey, left + 6, top + 14, "start"},
		{"q-" + vocab.QuadrantChampion, statusLabel(vocab.QuadrantChampion), bx, top, left + plotW, ey, left + plotW - 6, top + 14, "end"},
		{"q-" + vocab.QuadrantAtRisk, statusLabel(vocab.QuadrantAtRisk), left, ey, bx, top + plotH, left + 6, top + plotH - 6, "start"},
		{"q-" + vocab.QuadrantCaptive, statusLabel(vocab.QuadrantCaptive), bx, ey, left + plotW, top + plotH, left + plotW - 6, top + plotH - 6, "end"},
	}
	for _, q := range quads {
		fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, q.cls, q.x0, q.y0, q.x1-q.x0, q.y1-q.y0)
		fmt.Fprintf(&b, `<text class="quad-label" x="%.1f" y="%.1f" text-anchor="%s">%s</text>`, q.lx, q.ly, q.anchor, q.label)
	}
	// Axes and ticks.
	for _, t := range []float64{0, 25, 50, 75, 100} {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%.0f</text>`, x(t), top+plotH+14, t)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%.0f</text>`, left-6, y(t)+4, t)
	}
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">behavioural score (0–100)</text>`, left+plotW/2, h-4)
	fmt.Fprintf(&b, `<text x="12" y="%.1f" text-anchor="middle" transform="rotate(-90 12 %.1f)">emotional score (0–100)</text>`, top+plotH/2, top+plotH/2)
	fmt.Fprintf(&b, `<rect class="frame" x="%.1f" y="%.1f" width="%.1f" height="%.1f"/>`, left, top, plotW, plotH)
	fmt.Fprintf(&b, `<line class="threshold" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, bx, top, bx, top+plotH)
	fmt.Fprintf(&b, `<line class="threshold" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, left, ey, left+plotW, ey)
	// Largest first, so small accounts stay visible on top.
	order := make([]int, len(points))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(i, j int) int { return cmp.Compare(points[j].ARR, points[i].ARR) })
	for _, i := range order {
		p := points[i]
		r := minR
		if maxARR > 0 {
			r = minR + (maxR-minR)*math.Sqrt(p.ARR/maxARR)
		}
		label := fmt.Sprintf("%s: behavioural %.0f, emotional %.0f, %s ARR, %s", p.Name, p.Behavioural, p.Emotional, money(p.ARR), statusLabel(p.Quadrant))
		fmt.Fprintf(&b, `<a href="/accounts/%s" aria-label="%s"><circle class="pt pt-%s" cx="%.1f" cy="%.1f" r="%.1f"><title>%s</title></circle></a>`,
			template.HTMLEscapeString(url.PathEscape(p.ID)), template.HTMLEscapeString(label), template.HTMLEscapeString(p.Quadrant), x(p.Behavioural), y(p.Emotional), r,
			template.HTMLEscapeString(label))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// bar is one bar of a bar chart.
type bar struct {
	Label string
	Value float64
	Text  string // the value as shown, with its unit
	Class string
}

// barChart draws horizontal bars, one per item, labelled with their value.
// The space right of the longest bar fits the longest value label, so no
// label is cut off at the chart's right edge.
func barChart(id, title string, bars []bar) template.HTML {
	const (
		w, rowH, labelW = 640.0, 24.0, 200.0
		// charW is the widest a character of the 11 px chart font gets,
		// on average over a label (digits, letters, "·" and spaces).
		charW = 7.0
	)
	h := rowH*float64(len(bars)) + 8
	maxV, valueW := 0.0, 60.0
	for _, x := range bars {
		maxV = math.Max(maxV, x.Value)
		valueW = math.Max(valueW, float64(len([]rune(x.Text)))*charW+12)
	}
	valueW = math.Min(valueW, w-labelW-60)
	var b strings.Builder
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-labelledby="%s-t" aria-describedby="%s-d" xmlns="http://www.w3.org/2000/svg">`, w, h, id, id)
	fmt.Fprintf(&b, `<title id="%s-t">%s</title>`, id, template.HTMLEscapeString(title))
	// The description reads every bar as text, for those who cannot see it.
	desc := make([]string, len(bars))
	for i, x := range bars {
		desc[i] = x.Label + ": " + x.Text
	}
	fmt.Fprintf(&b, `<desc id="%s-d">%s.</desc>`, id, template.HTMLEscapeString(strings.Join(desc, "; ")))
	for i, x := range bars {
		yy := 4 + float64(i)*rowH
		bw := 0.0
		if maxV > 0 {
			bw = (w - labelW - valueW) * x.Value / maxV
		}
		cls := x.Class
		if cls == "" {
			cls = "bar-default"
		}
		label := x.Label
		if len([]rune(label)) > 30 {
			label = string([]rune(label)[:29]) + "…"
		}
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%s</text>`, labelW-8, yy+rowH/2+4, template.HTMLEscapeString(label))
		fmt.Fprintf(&b, `<rect class="%s" x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="2"/>`, cls, labelW, yy+4, math.Max(bw, 1), rowH-8)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`, labelW+bw+6, yy+rowH/2+4, template.HTMLEscapeString(x.Text))
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}
