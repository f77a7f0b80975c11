package report

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/stats"
	"github.com/moments-cs/moments/internal/store"
)

// z95 is the standard normal quantile of a two-sided 95 % interval.
const z95 = 1.959963984540054

// Interval methods, named in the report so a reader knows how each was
// computed.
const (
	MethodNPS  = "adjusted Wald interval: one promoter, one passive and one detractor added, normal approximation on +1/0/−1 answers"
	MethodCSAT = "Wilson score interval on the share of 4–5 answers"
	MethodCES  = "Student's t interval on the mean"
)

// Stat is one survey figure with its sample size and 95 % confidence
// interval. Low and High are absent when the interval cannot be computed
// (no answers; one CES answer).
type Stat struct {
	N     int      `json:"n"`
	Value float64  `json:"value"`
	Low   *float64 `json:"low,omitempty"`
	High  *float64 `json:"high,omitempty"`
}

func interval(lo, hi, min, max float64) (*float64, *float64) {
	lo, hi = math.Max(lo, min), math.Min(hi, max)
	return &lo, &hi
}

// NPS is the Net Promoter Score of 0–10 answers: the percentage of
// promoters (9–10) minus that of detractors (0–6), from −100 to 100. Its
// interval is an adjusted Wald interval, in the spirit of Agresti–Coull for
// a proportion: one promoter, one passive and one detractor are added
// (n' = n + 3, p' = (promoters + 1)/n', d' = (detractors + 1)/n'), and
// the interval is 100 · (p' − d' ± 1.96 · √((p' + d' − (p' − d')²)/n')),
// clamped to −100..100. Unadjusted, a handful of identical answers would
// give an interval of width zero; adjusted, one answer gives about ±70.
func NPS(scores []int) Stat {
	s := Stat{N: len(scores)}
	if s.N == 0 {
		return s
	}
	var pro, det float64
	for _, v := range scores {
		switch {
		case v >= 9:
			pro++
		case v <= 6:
			det++
		}
	}
	n := float64(s.N)
	s.Value = 100 * (pro - det) / n
	na := n + 3
	p, d := (pro+1)/na, (det+1)/na
	centre := 100 * (p - d)
	half := 100 * z95 * math.Sqrt((p+d-(p-d)*(p-d))/na)
	s.Low, s.High = interval(centre-half, centre+half, -100, 100)
	return s
}

// CSAT is the percentage of 1–5 answers that are 4 or 5, with the Wilson
// score interval (stats.Wilson), which stays within 0–100 and behaves with
// small samples and shares near 0 or 100 %.
func CSAT(scores []int) Stat {
	s := Stat{N: len(scores)}
	if s.N == 0 {
		return s
	}
	k := 0
	for _, v := range scores {
		if v >= 4 {
			k++
		}
	}
	p := stats.Wilson(k, s.N)
	s.Value = 100 * p.Share
	s.Low, s.High = interval(100*p.Low, 100*p.High, 0, 100)
	return s
}

// CES is the average of 1–7 answers, with Student's t interval
// (stats.MeanT: mean ± t₀.₉₇₅,ₙ₋₁ · s / √n, s the sample standard
// deviation), clamped to 1–7; one answer has no interval.
func CES(scores []int) Stat {
	s := Stat{N: len(scores)}
	if s.N == 0 {
		return s
	}
	xs := make([]float64, len(scores))
	for i, v := range scores {
		xs[i] = float64(v)
	}
	m := stats.MeanT(xs)
	s.Value = m.Mean
	if s.N >= 2 {
		s.Low, s.High = interval(m.Low, m.High, 1, 7)
	}
	return s
}

// statOf computes the figure of a survey kind.
func statOf(kind string, scores []int) Stat {
	switch kind {
	case "nps":
		return NPS(scores)
	case "csat":
		return CSAT(scores)
	}
	return CES(scores)
}

// Answer is one survey answer as the report reads it, from Moments'
// answer page or from another tool through the tracking API.
type Answer struct {
	EventID   int64
	At        time.Time
	Kind      string
	Score     int
	Survey    string
	Moment    string
	Stage     string
	AccountID string
	Account   string
	Segment   string
	ContactID string
	Role      string
	Comment   string
}

// Detractor reports whether an answer is a low one that calls for service
// recovery: NPS 0–6, CSAT 1–2, CES 1–3.
func (a Answer) Detractor() bool {
	switch a.Kind {
	case "nps":
		return a.Score <= 6
	case "csat":
		return a.Score <= 2
	}
	return a.Score <= 3
}

// SurveyGroup is one row of the scores table: one kind of survey within one
// moment, stage, segment or month.
type SurveyGroup struct {
	By   string `json:"by"`
	Key  string `json:"key"`
	Kind string `json:"kind"`
	Stat
}

// MomentResponse is the response to one moment's surveys: sends, answers
// and the median time from send to answer.
type MomentResponse struct {
	Moment   string  `json:"moment"`
	Sent     int     `json:"sent"`
	Answered int     `json:"answered"`
	Rate     float64 `json:"response_rate"`
	// MedianHours is the median time to answer, in hours; absent without
	// answers.
	MedianHours *float64 `json:"median_hours_to_answer,omitempty"`
	// Skipped counts sends the fatigue budget held back.
	Skipped int `json:"skipped"`
}

// Comment is one verbatim comment.
type Comment struct {
	At      time.Time `json:"at"`
	Account string    `json:"account"`
	Role    string    `json:"role"`
	Moment  string    `json:"moment"`
	Survey  string    `json:"survey"`
	Kind    string    `json:"kind"`
	Score   int       `json:"score"`
	Comment string    `json:"comment"`
}

// LoopRow closes the loop on one detractor answer: whether a recovery run
// started, how soon its first task was done, and whether the account's
// next answer of the same kind was better.
type LoopRow struct {
	At             time.Time `json:"at"`
	Account        string    `json:"account"`
	Role           string    `json:"role"`
	Moment         string    `json:"moment"`
	Kind           string    `json:"kind"`
	Score          int       `json:"score"`
	RecoveryRun    string    `json:"recovery_run,omitempty"`
	RecoveryMoment string    `json:"recovery_moment,omitempty"`
	// FirstTaskDoneHours is the time from the answer to the recovery's
	// first task done, in hours.
	FirstTaskDoneHours *float64 `json:"first_task_done_hours,omitempty"`
	NextScore          *int     `json:"next_score,omitempty"`
	// Improved is set once the account answered again: whether that
	// answer scored higher.
	Improved *bool `json:"improved,omitempty"`
}

// SurveyReport is the survey report over a period.
type SurveyReport struct {
	From     time.Time         `json:"from"`
	To       time.Time         `json:"to"`
	Methods  map[string]string `json:"interval_methods"`
	Scores   []SurveyGroup     `json:"scores"`
	Response []MomentResponse  `json:"response"`
	Comments []Comment         `json:"comments"`
	Loop     []LoopRow         `json:"closing_the_loop"`
}

// Report dimensions.
var dimensions = []string{"moment", "stage", "segment", "month"}

// BuildSurveyReport computes the report from answers (oldest first), the
// sends of the period and the recovery runs the detractor answers started.
func BuildSurveyReport(from, to time.Time, answers []Answer, sends []store.SurveySend, rec map[int64]store.Recovery) SurveyReport {
	r := SurveyReport{From: from, To: to, Methods: map[string]string{"nps": MethodNPS, "csat": MethodCSAT, "ces": MethodCES},
		Scores: []SurveyGroup{}, Response: []MomentResponse{}, Comments: []Comment{}, Loop: []LoopRow{}}
	type gk struct{ by, key, kind string }
	groups := map[gk][]int{}
	for _, a := range answers {
		for _, by := range dimensions {
			key := map[string]string{"moment": a.Moment, "stage": a.Stage, "segment": a.Segment, "month": a.At.Format("2006-01")}[by]
			if key == "" {
				key = "(none)"
			}
			k := gk{by, key, a.Kind}
			groups[k] = append(groups[k], a.Score)
		}
		if a.Comment != "" {
			r.Comments = append(r.Comments, Comment{At: a.At, Account: a.Account, Role: a.Role, Moment: a.Moment,
				Survey: a.Survey, Kind: a.Kind, Score: a.Score, Comment: a.Comment})
		}
	}
	for k, scores := range groups {
		r.Scores = append(r.Scores, SurveyGroup{By: k.by, Key: k.key, Kind: k.kind, Stat: statOf(k.kind, scores)})
	}
	sort.Slice(r.Scores, func(i, j int) bool {
		a, b := r.Scores[i], r.Scores[j]
		if a.By != b.By {
			return slices.Index(dimensions, a.By) < slices.Index(dimensions, b.By)
		}
		if a.Key != b.Key {
			return a.Key < b.Key
		}
		return a.Kind < b.Kind
	})
	slices.Reverse(r.Comments)
	r.Response = responseByMoment(sends)
	r.Loop = closeTheLoop(answers, rec)
	return r
}

func responseByMoment(sends []store.SurveySend) []MomentResponse {
	by := map[string]*MomentResponse{}
	hours := map[string][]float64{}
	for _, x := range sends {
		key := x.MomentID
		if key == "" {
			key = "(by hand)"
		}
		m := by[key]
		if m == nil {
			m = &MomentResponse{Moment: key}
			by[key] = m
		}
		switch x.Status {
		case store.SurveySkipped:
			m.Skipped++
		case store.SurveySent:
			m.Sent++
			if x.Score != nil && x.AnsweredAt != nil && x.SentAt != nil {
				m.Answered++
				hours[key] = append(hours[key], x.AnsweredAt.Sub(*x.SentAt).Hours())
			}
		}
	}
	out := []MomentResponse{}
	for k, m := range by {
		if m.Sent > 0 {
			m.Rate = float64(m.Answered) / float64(m.Sent)
		}
		if h := hours[k]; len(h) > 0 {
			med := stats.Median(h)
			m.MedianHours = &med
		}
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Moment < out[j].Moment })
	return out
}

func closeTheLoop(answers []Answer, rec map[int64]store.Recovery) []LoopRow {
	out := []LoopRow{}
	for i, a := range answers {
		if !a.Detractor() {
			continue
		}
		row := LoopRow{At: a.At, Account: a.Account, Role: a.Role, Moment: a.Moment, Kind: a.Kind, Score: a.Score}
		if r, ok := rec[a.EventID]; ok {
			row.RecoveryRun, row.RecoveryMoment = r.RunID, r.MomentID
			if r.FirstTaskDoneAt != nil {
				h := r.FirstTaskDoneAt.Sub(a.At).Hours()
				row.FirstTaskDoneHours = &h
			}
		}
		for _, b := range answers[i+1:] {
			if b.AccountID == a.AccountID && b.Kind == a.Kind && b.At.After(a.At) {
				next := b.Score
				better := next > a.Score
				row.NextScore, row.Improved = &next, &better
				break
			}
		}
		out = append(out, row)
	}
	slices.Reverse(out)
	return out
}

// SurveyReportFor reads the answers and sends of [from, to) and builds the
// report. m (the live map) gives each moment its stage; nil leaves stages
// empty. keep, when set, keeps only the answers and sends of the accounts
// it accepts (a filter by owner, segment or stage).
func SurveyReportFor(ctx context.Context, st *store.Store, m *journey.Map, from, to time.Time,
	keep func(store.Account) bool) (SurveyReport, error) {
	events, err := st.SurveyAnswerEvents(ctx, from, to)
	if err != nil {
		return SurveyReport{}, err
	}
	stages := map[string]string{}
	if m != nil {
		for _, mo := range m.Moments {
			stages[mo.ID] = mo.Stage
		}
	}
	accounts := map[string]store.Account{}
	account := func(id string) store.Account {
		a, seen := accounts[id]
		if !seen && id != "" {
			a, _ = st.Account(ctx, id)
			accounts[id] = a
		}
		return a
	}
	contacts := map[string]store.Contact{}
	var answers []Answer
	var detractors []int64
	for _, ev := range events {
		a, ok := answerOf(ev)
		if !ok {
			continue
		}
		acc := account(a.AccountID)
		if keep != nil && !keep(acc) {
			continue
		}
		a.Account, a.Segment = cmpOr(acc.Name, a.AccountID), acc.Segment
		c, seen := contacts[a.ContactID]
		if !seen && a.ContactID != "" {
			c, _ = st.Contact(ctx, a.ContactID)
			contacts[a.ContactID] = c
		}
		a.Role = c.Role
		a.Stage = stages[a.Moment]
		answers = append(answers, a)
		if a.Detractor() {
			detractors = append(detractors, a.EventID)
		}
	}
	sends, err := st.SurveySends(ctx, store.SurveySendFilter{Since: from})
	if err != nil {
		return SurveyReport{}, err
	}
	sends = slices.DeleteFunc(sends, func(x store.SurveySend) bool {
		return !x.CreatedAt.Before(to) || (keep != nil && !keep(account(x.AccountID)))
	})
	rec, err := st.RecoveriesFor(ctx, detractors)
	if err != nil {
		return SurveyReport{}, err
	}
	return BuildSurveyReport(from, to, answers, sends, rec), nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// surveyScales are the lowest and highest score of each survey kind.
var surveyScales = map[string][2]int{"nps": {0, 10}, "csat": {1, 5}, "ces": {1, 7}}

// answerOf reads a "Survey Responded" event; an event without a known kind
// or with a score off its scale is not an answer (health ignores it too).
func answerOf(ev store.Event) (Answer, bool) {
	var p struct {
		Kind    string          `json:"kind"`
		Score   json.RawMessage `json:"score"`
		Survey  string          `json:"survey"`
		Moment  string          `json:"moment"`
		Comment string          `json:"comment"`
	}
	if json.Unmarshal(ev.Properties, &p) != nil {
		return Answer{}, false
	}
	f, err := strconv.ParseFloat(string(trimQuotes(p.Score)), 64)
	if err != nil || f != math.Trunc(f) {
		return Answer{}, false
	}
	score := int(f)
	sc, ok := surveyScales[p.Kind]
	if !ok || score < sc[0] || score > sc[1] {
		return Answer{}, false
	}
	return Answer{EventID: ev.ID, At: ev.Timestamp, Kind: p.Kind, Score: score, Survey: p.Survey, Moment: p.Moment,
		AccountID: ev.AccountID, ContactID: ev.UserID, Comment: p.Comment}, true
}

func trimQuotes(b []byte) []byte {
	if len(b) >= 2 && b[0] == '"' && b[len(b)-1] == '"' {
		return b[1 : len(b)-1]
	}
	return b
}

// WriteSurveyCSV writes the scores table as CSV: one row per group with
// its sample size and interval.
func WriteSurveyCSV(w io.Writer, r SurveyReport) error {
	cw := csv.NewWriter(w)
	_ = cw.Write([]string{"by", "key", "kind", "n", "value", "ci95_low", "ci95_high"})
	for _, g := range r.Scores {
		_ = cw.Write([]string{g.By, g.Key, g.Kind, strconv.Itoa(g.N), oneDecimal(g.Value), optNum(g.Low), optNum(g.High)})
	}
	cw.Flush()
	return cw.Error()
}

// oneDecimal formats a survey figure for a table cell.
func oneDecimal(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

func optNum(v *float64) string {
	if v == nil {
		return ""
	}
	return oneDecimal(*v)
}

// WriteSurveyText writes the report as plain tables for the terminal.
func WriteSurveyText(w io.Writer, r SurveyReport) error {
	fmt.Fprintf(w, "Survey results %s to %s (95 %% intervals: NPS %s; CSAT %s; CES %s)\n\n",
		r.From.Format("2006-01-02"), r.To.Format("2006-01-02"), MethodNPS, MethodCSAT, MethodCES)
	if len(r.Scores) == 0 && len(r.Response) == 0 {
		fmt.Fprintln(w, "No survey answers in this period. Send surveys with a survey step in a moment's playbook ({kind: survey, template: nps, to: sponsor}),")
		fmt.Fprintln(w, "or send your survey tool's answers as \"Survey Responded\" events through the tracking API.")
		return nil
	}
	fmt.Fprintf(w, "%-8s %-28s %-5s %5s %8s  %s\n", "BY", "GROUP", "KIND", "N", "SCORE", "95% INTERVAL")
	for _, g := range r.Scores {
		ci := "—"
		if g.Low != nil {
			ci = oneDecimal(*g.Low) + " to " + oneDecimal(*g.High)
		}
		fmt.Fprintf(w, "%-8s %-28s %-5s %5d %8s  %s\n", g.By, g.Key, g.Kind, g.N, oneDecimal(g.Value), ci)
	}
	fmt.Fprintf(w, "\n%-28s %5s %9s %9s %8s %14s\n", "MOMENT", "SENT", "ANSWERED", "RATE", "SKIPPED", "MEDIAN TO ANSWER")
	for _, m := range r.Response {
		med := "—"
		if m.MedianHours != nil {
			med = strconv.FormatFloat(*m.MedianHours, 'f', 1, 64) + " h"
		}
		fmt.Fprintf(w, "%-28s %5d %9d %8.0f%% %8d %14s\n", m.Moment, m.Sent, m.Answered, 100*m.Rate, m.Skipped, med)
	}
	fmt.Fprintf(w, "\nClosing the loop on %d low answers\n", len(r.Loop))
	for _, l := range r.Loop {
		run, done, next := "no recovery run", "", "not answered again"
		if l.RecoveryRun != "" {
			run = "recovery " + l.RecoveryMoment
		}
		if l.FirstTaskDoneHours != nil {
			done = fmt.Sprintf(", first task done after %.1f h", *l.FirstTaskDoneHours)
		}
		if l.NextScore != nil {
			next = fmt.Sprintf("next answer %d (improved: %t)", *l.NextScore, *l.Improved)
		}
		fmt.Fprintf(w, "%s %-24s %-4s %2d  %s%s; %s\n", l.At.Format("2006-01-02"), l.Account, l.Kind, l.Score, run, done, next)
	}
	fmt.Fprintf(w, "\n%d comments\n", len(r.Comments))
	for _, c := range r.Comments {
		fmt.Fprintf(w, "%s %-24s %-9s %-20s %s %d: %q\n", c.At.Format("2006-01-02"), c.Account, c.Role, c.Moment, c.Kind, c.Score, c.Comment)
	}
	return nil
}
