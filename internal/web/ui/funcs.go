package ui

import (
	"fmt"
	"github.com/moments-cs/moments/internal/vocab"
	"html/template"
	"math"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
)

// uiFuncs are the template functions of the UI. Times are rendered in the
// viewer's zone inside <time datetime="…UTC…">, which app.js may reformat
// in the browser's locale; numbers always carry their unit.
var uiFuncs = template.FuncMap{
	"asset": assetURL,
	// journeyCSS is inlined on the journey pages so that they print as
	// they are, like the swimlane's own page.
	"journeyCSS": func() template.CSS { return journeyCSS },
	"inc":        func(i int) int { return i + 1 },
	"when":       whenHTML,
	"date":       dateHTML,
	"relative":   relative,
	"money":      money,
	"number":     number,
	"percent":    percent,
	"score":      scoreText,
	"days":       daysText,
	"badge":      badge,
	"quadrant":   quadrantBadge,
	"label":      statusLabel,
	"plural":     plural,
	"add":        func(a, b int) int { return a + b },
	"query":      queryWith,
	"join":       strings.Join,
	"taskrow":    func(v uiView, r taskRow) taskRowData { return taskRowData{uiView: v, Row: r} },
	"deref":      func(p *int) int { return *p },
	"deref64":    func(p *float64) float64 { return *p },
	"itoa":       strconv.Itoa,
	"neg":        func(n int) int { return -n },
	"mine":       isMine,
}

// timeOf accepts the kinds of time the views carry.
func timeOf(v any) (time.Time, bool) {
	switch t := v.(type) {
	case time.Time:
		return t, !t.IsZero()
	case *time.Time:
		if t == nil {
			return time.Time{}, false
		}
		return *t, !t.IsZero()
	}
	return time.Time{}, false
}

// whenHTML renders a date and time in loc.
func whenHTML(loc *time.Location, v any) template.HTML {
	t, ok := timeOf(v)
	if !ok {
		return `<span class="muted">—</span>`
	}
	if loc == nil {
		loc = time.UTC
	}
	return template.HTML(fmt.Sprintf(`<time datetime="%s" data-local="datetime">%s</time>`,
		t.UTC().Format(time.RFC3339), template.HTMLEscapeString(t.In(loc).Format("2 Jan 2006 15:04 MST"))))
}

// dateHTML renders a date in loc.
func dateHTML(loc *time.Location, v any) template.HTML {
	t, ok := timeOf(v)
	if !ok {
		return `<span class="muted">—</span>`
	}
	if loc == nil {
		loc = time.UTC
	}
	return template.HTML(fmt.Sprintf(`<time datetime="%s" data-local="date">%s</time>`,
		t.UTC().Format(time.RFC3339), template.HTMLEscapeString(t.In(loc).Format("2 Jan 2006"))))
}

// relative says how far t is from now in words: "in 3 days", "2 hours ago".
func relative(now time.Time, v any) string {
	t, ok := timeOf(v)
	if !ok {
		return ""
	}
	d := t.Sub(now)
	future := d > 0
	if d < 0 {
		d = -d
	}
	var s string
	switch {
	case d < time.Minute:
		return "now"
	case d < time.Hour:
		s = plural(int(d/time.Minute), "minute", "minutes")
	case d < 48*time.Hour:
		s = plural(int(d/time.Hour), "hour", "hours")
	default:
		s = plural(int(d/(24*time.Hour)), "day", "days")
	}
	if future {
		return "in " + s
	}
	return s + " ago"
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

// money renders an amount in whole currency units with thousands
// separators: "$120,000".
func money(v float64) string {
	neg := v < 0
	s := number(math.Abs(math.Round(v)))
	if neg {
		return "−$" + s
	}
	return "$" + s
}

// number renders a whole number with thousands separators.
func number(v any) string {
	var n int64
	switch x := v.(type) {
	case int:
		n = int64(x)
	case int64:
		n = x
	case float64:
		n = int64(math.Round(x))
	default:
		return fmt.Sprint(v)
	}
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "−" + b.String()
	}
	return b.String()
}

// percent renders a share 0–1 as "42%".
func percent(share float64) string {
	return strconv.Itoa(int(math.Round(share*100))) + "%"
}

// scoreText renders a 0–100 score, or "unknown" for nil.
func scoreText(v any) string {
	switch x := v.(type) {
	case *float64:
		if x == nil {
			return "unknown"
		}
		return strconv.Itoa(int(math.Round(*x))) + " / 100"
	case float64:
		return strconv.Itoa(int(math.Round(x))) + " / 100"
	}
	return "unknown"
}

// daysText renders a duration in days with one decimal: "3.2 days".
func daysText(v any) string {
	var d time.Duration
	switch x := v.(type) {
	case time.Duration:
		d = x
	case *time.Duration:
		if x == nil {
			return "—"
		}
		d = *x
	case float64:
		return strconv.FormatFloat(x, 'f', 1, 64) + " days"
	default:
		return "—"
	}
	days := d.Hours() / 24
	if days == 1 {
		return "1 day"
	}
	return strconv.FormatFloat(days, 'f', 1, 64) + " days"
}

// statusLabel is the word shown for a status or quadrant code.
func statusLabel(code string) string {
	switch code {
	case vocab.QuadrantDormantFan:
		return "dormant fan"
	case vocab.QuadrantAtRisk:
		return "at risk"
	case vocab.QuadrantUnknown, "":
		return "behaviour only"
	}
	return strings.ReplaceAll(code, "_", " ")
}

// badge renders a status as a word in a coloured pill; the colour only
// repeats what the word says.
func badge(code string) template.HTML {
	return template.HTML(fmt.Sprintf(`<span class="badge b-%s">%s</span>`,
		template.HTMLEscapeString(strings.ReplaceAll(code, " ", "_")), template.HTMLEscapeString(statusLabel(code))))
}

// quadrantBadge renders a health quadrant.
func quadrantBadge(q string) template.HTML {
	if q == "" {
		q = "unknown"
	}
	return badge(q)
}

// queryWith returns the query string of base with key set to value (and
// the page cursor dropped), for sort and filter links.
func queryWith(base map[string]string, kv ...string) string {
	vals := make([]string, 0, len(base)+len(kv)/2)
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	for _, k := range keys {
		if m[k] != "" {
			vals = append(vals, urlEscape(k)+"="+urlEscape(m[k]))
		}
	}
	if len(vals) == 0 {
		return "?"
	}
	return "?" + strings.Join(vals, "&")
}

func sortStrings(s []string) { slices.Sort(s) }

func urlEscape(s string) string { return url.QueryEscape(s) }

// uiFact is one labelled value on a page.
type uiFact struct{ Label, Value string }

// uiFacts keeps the labelled values that are set, from label, value pairs.
func uiFacts(pairs ...string) []uiFact {
	var out []uiFact
	for i := 0; i+1 < len(pairs); i += 2 {
		if pairs[i+1] != "" {
			out = append(out, uiFact{pairs[i], pairs[i+1]})
		}
	}
	return out
}

// uiNameOr returns the name of id in names, or id itself.
func uiNameOr(names map[string]string, id string) string {
	if n := names[id]; n != "" {
		return n
	}
	return id
}
