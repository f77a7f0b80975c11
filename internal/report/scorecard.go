package report

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/stats"
	"github.com/moments-cs/moments/internal/store"
)

// DefaultDays is the default period of moment analytics: the last 90 days,
// compared with the 90 days before.
const DefaultDays = 90

// MaxDays bounds a report's period (ten years).
const MaxDays = 3650

// ErrNoMap is returned when no journey map has been applied yet.
var ErrNoMap = errors.New("no journey map applied yet: apply one with `moments map apply examples/b2b-saas.yaml`")

// Period is a half-open interval of time [From, To).
type Period struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// periods returns the last days before now and the same length before it.
func periods(days int, now time.Time) (cur, prev Period) {
	from := now.AddDate(0, 0, -days)
	return Period{from, now}, Period{from.AddDate(0, 0, -days), from}
}

// CheckDays validates a report period in days.
func CheckDays(days int) error {
	if days < 1 || days > MaxDays {
		return paramErrorf("days", "days must be from 1 to %d, got %d", MaxDays, days)
	}
	return nil
}

// Quantity is how often a moment happened in a period.
type Quantity struct {
	// Label is what the map's metrics.quantity says is counted.
	Label string `json:"label,omitempty"`
	// Delivered counts the occurrences that reached the moment's end: its
	// metrics.time.to event, or, without one, its run finished as done.
	Delivered int `json:"delivered"`
	// Accounts counts the distinct accounts reached.
	Accounts int `json:"accounts"`
}

// Share is a fraction from 0 to 1 of N with its 95 % Wilson interval;
// Share, Low and High are null when N is 0.
type Share struct {
	Hits  int      `json:"hits"`
	N     int      `json:"n"`
	Share *float64 `json:"share"`
	Low   *float64 `json:"low"`
	High  *float64 `json:"high"`
}

func share(hits, n int) Share {
	p := stats.Wilson(hits, n)
	return Share{Hits: hits, N: n, Share: num(p.Share), Low: num(p.Low), High: num(p.High)}
}

// Quality is how well a moment was delivered.
type Quality struct {
	// Survey is the map's metrics.quality.survey; Answers, Score (the mean
	// answer) and its 95 % t interval come from every "Survey Responded"
	// event with that survey id in the period, from any source; the
	// interval is clipped to the survey kind's scale (NPS 0–10, CSAT 1–5,
	// CES 1–7) when the map defines the survey.
	Survey    string   `json:"survey,omitempty"`
	Answers   int      `json:"answers"`
	Score     *float64 `json:"score"`
	ScoreLow  *float64 `json:"score_low"`
	ScoreHigh *float64 `json:"score_high"`
	// WithoutEscalation is, of the occurrences whose run finished, the
	// share completed (done) with no escalation of the run or its tasks.
	WithoutEscalation Share `json:"without_escalation"`
	// SLA is, of the occurrences delivered or past their SLA, the share
	// delivered within the moment's sla; absent when the map sets none.
	SLA *Share `json:"sla,omitempty"`
}

// Cost is the effort a moment took in a period.
type Cost struct {
	// MinutesEach is the map's metrics.cost.minutes.
	MinutesEach int `json:"minutes_each"`
	// Planned is MinutesEach × occurrences; Recorded the effort recorded
	// on the moment's tasks; Total their sum.
	Planned  int `json:"planned_minutes"`
	Recorded int `json:"recorded_minutes"`
	Total    int `json:"total_minutes"`
	// PerOccurrence is Total / occurrences; null without occurrences.
	PerOccurrence *float64 `json:"per_occurrence_minutes"`
}

// TimeFigures is how long a moment took from metrics.time.from to .to.
type TimeFigures struct {
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
	// Measured counts the occurrences where both events happened; the
	// median and p90 are over them, in days, null when none finished.
	Measured   int      `json:"measured"`
	MedianDays *float64 `json:"median_days"`
	P90Days    *float64 `json:"p90_days"`
	// NotReached counts occurrences whose from event happened and whose to
	// event has not yet; NotReachedShare is that over both.
	NotReached      int      `json:"not_reached"`
	NotReachedShare *float64 `json:"not_reached_share"`
	// TimeToValue (or TimeToImplementation) is set when the moment ends at
	// a success-path milestone marked value (implemented): the median days
	// from contract start to it, over the accounts reached in the period
	// that got there.
	Milestone            string   `json:"milestone,omitempty"`
	TimeToValueDays      *float64 `json:"time_to_value_days,omitempty"`
	TimeToImplementation *float64 `json:"time_to_implementation_days,omitempty"`
	MilestoneAccounts    int      `json:"milestone_accounts,omitempty"`
}

// PeriodFigures are the headline figures of the previous period, for the
// trend.
type PeriodFigures struct {
	Period      Period   `json:"period"`
	Occurrences int      `json:"occurrences"`
	MedianDays  *float64 `json:"median_days"`
	Conformance *float64 `json:"conformance"`
	Score       *float64 `json:"score"`
	SLA         *float64 `json:"sla"`
}

// Trend is the change from the previous period: current − previous, null
// when either side has no data.
type Trend struct {
	Occurrences int      `json:"occurrences"`
	MedianDays  *float64 `json:"median_days"`
	Conformance *float64 `json:"conformance"`
	Score       *float64 `json:"score"`
	SLA         *float64 `json:"sla"`
}

// Scorecard is one moment's figures for a period.
type Scorecard struct {
	Moment string `json:"moment"`
	Name   string `json:"name"`
	Stage  string `json:"stage"`
	Owner  string `json:"owner"`
	// Rank orders moments by Priority, highest first (1 is the one to fix
	// next); moments without a gap come last, by importance.
	Rank int `json:"rank"`
	// Importance is the map's four axes summed (0–20); Gap is 1 −
	// conformance (or 1 − SLA adherence when no ideal step is measured);
	// Priority is Importance/20 × Gap.
	Importance  int                `json:"importance"`
	Gap         *float64           `json:"gap"`
	Priority    *float64           `json:"priority"`
	Occurrences int                `json:"occurrences"`
	Quantity    Quantity           `json:"quantity"`
	Quality     Quality            `json:"quality"`
	Cost        Cost               `json:"cost"`
	Time        TimeFigures        `json:"time"`
	Ideal       []IdealStepFigures `json:"ideal"`
	Conformance IdealFigures       `json:"conformance"`
	Previous    PeriodFigures      `json:"previous"`
	Trend       Trend              `json:"trend"`
}

// ScorecardReport holds every moment's scorecard, ranked.
type ScorecardReport struct {
	Days     int         `json:"days"`
	Period   Period      `json:"period"`
	Previous Period      `json:"previous_period"`
	At       time.Time   `json:"at"`
	Moments  []Scorecard `json:"moments"`
}

// Analytics reads what moment analytics need from the store.
type Analytics interface {
	WatchAnalyticsNames(ctx context.Context, names []string) (int, error)
	MomentDaySummaries(ctx context.Context, qs []store.DaySummaryQuery,
		summarise func(q int, occ []store.Occurrence) []byte) ([]store.MomentDays, error)
	SurveyScores(ctx context.Context, survey string, from, to time.Time) (store.SurveyScore, error)
	AccountProfiles(ctx context.Context) ([]store.AccountProfile, error)
	PathAccounts(ctx context.Context, pathID string) ([]store.PathAccount, error)
	EachAccountLabel(ctx context.Context, column string, fn func(account []byte, label string)) error
	EachAccountMilestones(ctx context.Context, column string, ids []string, fn func(key []byte, at []int64)) error
	EachFirstMark(ctx context.Context, name string, milestone bool, from, to time.Time, fn func(account []byte, at int64)) error
}

// MeasuredNames lists the event names a map's analytics read: ideal step
// events, metrics.time events and milestone events.
func MeasuredNames(m *journey.Map) []string {
	var out []string
	add := func(n string) {
		if n != "" && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, mo := range m.Moments {
		for _, s := range mo.Ideal {
			add(s.Event)
		}
		add(mo.Metrics.Time.From)
		add(mo.Metrics.Time.To)
	}
	for _, p := range m.SuccessPaths {
		for _, ms := range p.Milestones {
			for _, e := range ms.Events {
				add(e)
			}
		}
	}
	return out
}

// occurrenceQuery asks for what the moment's figures need: with path, the
// accounts' success path state (the moment ends at a milestone).
func occurrenceQuery(mo journey.Moment, p Period, path bool) store.OccurrenceQuery {
	q := store.OccurrenceQuery{MomentID: mo.ID, From: p.From, To: p.To, TimeFrom: mo.Metrics.Time.From, TimeTo: mo.Metrics.Time.To,
		Path: path}
	for _, s := range mo.Ideal {
		switch {
		case s.Event != "" && !slices.Contains(q.Events, s.Event):
			q.Events = append(q.Events, s.Event)
		case s.Task != "" && !slices.Contains(q.Steps, s.Task):
			q.Steps = append(q.Steps, s.Task)
		}
	}
	return q
}

// Scorecards builds every moment's scorecard over the last days before
// now against the days before that.
func Scorecards(ctx context.Context, st Analytics, m *journey.Map, days int, now time.Time) (ScorecardReport, error) {
	if m == nil {
		return ScorecardReport{}, ErrNoMap
	}
	if err := CheckDays(days); err != nil {
		return ScorecardReport{}, err
	}
	if _, err := st.WatchAnalyticsNames(ctx, MeasuredNames(m)); err != nil {
		return ScorecardReport{}, err
	}
	cur, prev := periods(days, now)
	rep := ScorecardReport{Days: days, Period: cur, Previous: prev, At: now}
	loaded, err := loadMoments(ctx, st, m, m.Moments, cur, prev)
	if err != nil {
		return rep, err
	}
	for i, mo := range m.Moments {
		rep.Moments = append(rep.Moments, scoreMoment(m, mo, loaded[i][0], loaded[i][1], cur, prev, now))
	}
	rank(rep.Moments)
	return rep, nil
}

// ErrUnknownMoment wraps a moment id the live map does not have.
var ErrUnknownMoment = errors.New("unknown moment")

// MomentScorecard builds one moment's scorecard (its ideal process against
// the actual one included) over the last days before now.
func MomentScorecard(ctx context.Context, st Analytics, m *journey.Map, momentID string, days int, now time.Time) (Scorecard, error) {
	if m == nil {
		return Scorecard{}, ErrNoMap
	}
	if err := CheckDays(days); err != nil {
		return Scorecard{}, err
	}
	idx := slices.IndexFunc(m.Moments, func(mo journey.Moment) bool { return mo.ID == momentID })
	if idx < 0 {
		return Scorecard{}, fmt.Errorf("%w %q: the live journey map has no moment with this id", ErrUnknownMoment, momentID)
	}
	if _, err := st.WatchAnalyticsNames(ctx, MeasuredNames(m)); err != nil {
		return Scorecard{}, err
	}
	cur, prev := periods(days, now)
	loaded, err := loadMoments(ctx, st, m, m.Moments[idx:idx+1], cur, prev)
	if err != nil {
		return Scorecard{}, err
	}
	return scoreMoment(m, m.Moments[idx], loaded[0][0], loaded[0][1], cur, prev, now), nil
}

// periodData is what one period's figures are computed from.
type periodData struct {
	tally  tally
	survey store.SurveyScore
}

// loadMoments reads what the scorecards of the moments need over both
// periods: one summary per moment and day (the store keeps them; see
// tally), the occurrences of the days a period's bound cuts (tallied
// here), and each survey's answers once. The summaries of a moment that
// ends at a milestone keep its accounts' success path state.
func loadMoments(ctx context.Context, st Analytics, m *journey.Map, moments []journey.Moment, cur, prev Period) ([][2]periodData,
	error) {
	var edges []int64
	for _, b := range []time.Time{prev.From, cur.From, cur.To} {
		if d := store.DayOf(b); !store.DayStart(d).Equal(b) && !slices.Contains(edges, d) {
			edges = append(edges, d)
		}
	}
	qs := make([]store.DaySummaryQuery, len(moments))
	for i, mo := range moments {
		oq := occurrenceQuery(mo, Period{prev.From, cur.To}, endsAtMilestone(m, mo))
		qs[i] = store.DaySummaryQuery{OccurrenceQuery: oq, Spec: tallySpec(mo), Edges: edges}
	}
	got, err := st.MomentDaySummaries(ctx, qs, func(q int, occ []store.Occurrence) []byte {
		return encodeTally(tallyOf(moments[q], occ))
	})
	if err != nil {
		return nil, err
	}
	out := make([][2]periodData, len(moments))
	surveys := map[Period]map[string]store.SurveyScore{cur: {}, prev: {}}
	for i, mo := range moments {
		for k, p := range []Period{cur, prev} {
			d := &out[i][k]
			d.tally = tally{steps: make([]stepTally, len(mo.Ideal))}
			var cut []store.Occurrence
			for day, sum := range got[i].Summaries {
				if occ, ok := got[i].Edges[day]; ok {
					for _, o := range occ {
						if !o.OccurredAt.Before(p.From) && o.OccurredAt.Before(p.To) {
							cut = append(cut, o)
						}
					}
					continue
				}
				if start := store.DayStart(day); start.Before(p.From) || !start.Before(p.To) {
					continue
				}
				if err := d.tally.addEncoded(sum, k == 0); err != nil {
					return nil, fmt.Errorf("read the moment analytics of %q on day %d: %w", mo.ID, day, err)
				}
			}
			d.tally.add(tallyOf(mo, cut))
			if s := mo.Metrics.Quality.Survey; s != "" {
				score, ok := surveys[p][s]
				if !ok {
					if score, err = st.SurveyScores(ctx, s, p.From, p.To); err != nil {
						return nil, err
					}
					surveys[p][s] = score
				}
				d.survey = score
			}
		}
	}
	return out, nil
}

// distinct returns the distinct ids, sorted.
func distinct(ids []string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return slices.Compact(out)
}

// scoreMoment computes a moment's scorecard from the loaded periods; it
// does no I/O.
func scoreMoment(m *journey.Map, mo journey.Moment, c, p periodData, cur, prev Period, now time.Time) Scorecard {
	t := c.tally
	sc := Scorecard{Moment: mo.ID, Name: mo.Name, Stage: mo.Stage, Owner: mo.Owner, Importance: mo.Importance.Score(),
		Occurrences: t.occurrences}
	accounts := distinct(t.accounts)
	sc.Quantity.Delivered = t.delivered
	sc.Cost.Recorded = t.effort
	sc.Time.NotReached = t.notReached
	sc.Quantity.Label, sc.Quantity.Accounts = mo.Metrics.Quantity, len(accounts)
	sc.Quality.Survey, sc.Quality.Answers = mo.Metrics.Quality.Survey, c.survey.Answers
	if c.survey.Answers > 0 {
		mt := stats.MeanT(c.survey.Scores)
		lo, hi := mt.Low, mt.High
		if sv := slices.IndexFunc(m.Surveys, func(s journey.Survey) bool { return s.ID == mo.Metrics.Quality.Survey }); sv >= 0 {
			if scale, ok := surveyScales[m.Surveys[sv].Kind]; ok {
				// An answer cannot lie off its scale, nor can their mean:
				// a t interval of few answers would (CSAT 3 and 5: −8.7 to 16.7).
				lo, hi = math.Max(lo, float64(scale[0])), math.Min(hi, float64(scale[1]))
			}
		}
		sc.Quality.Score, sc.Quality.ScoreLow, sc.Quality.ScoreHigh = num(mt.Mean), num(lo), num(hi)
	}
	sc.Quality.WithoutEscalation = share(t.clean, t.finished)
	if met, due, ok := slaCounts(mo, t, now); ok {
		s := share(met, due)
		sc.Quality.SLA = &s
	}
	sc.Cost.MinutesEach = mo.Metrics.Cost.Minutes
	sc.Cost.Planned = mo.Metrics.Cost.Minutes * t.occurrences
	sc.Cost.Total = sc.Cost.Planned + sc.Cost.Recorded
	if t.occurrences > 0 {
		sc.Cost.PerOccurrence = num(float64(sc.Cost.Total) / float64(t.occurrences))
	}
	sc.Time.From, sc.Time.To = mo.Metrics.Time.From, mo.Metrics.Time.To
	sc.Time.Measured = len(t.took)
	q := daysQuantiles(t.took, 0.5, 0.9)
	sc.Time.MedianDays, sc.Time.P90Days = num(q[0]), num(q[1])
	if n := len(t.took) + sc.Time.NotReached; n > 0 {
		sc.Time.NotReachedShare = num(float64(sc.Time.NotReached) / float64(n))
	}
	milestoneTimes(m, mo, t.paths, &sc.Time)

	sc.Conformance = idealFigures(mo, t, now, true)
	sc.Ideal = sc.Conformance.Steps
	sc.Conformance.Steps = nil
	sc.Gap = gap(sc.Conformance.Conformance, sc.Quality.SLA)
	if sc.Gap != nil {
		sc.Priority = num(float64(sc.Importance) / 20 * *sc.Gap)
	}

	pq := previousFigures(mo, p, now)
	pq.Period = prev
	sc.Previous = pq
	sc.Trend = Trend{Occurrences: sc.Occurrences - pq.Occurrences, MedianDays: diff(sc.Time.MedianDays, pq.MedianDays),
		Conformance: diff(sc.Conformance.Conformance, pq.Conformance), Score: diff(sc.Quality.Score, pq.Score)}
	if sc.Quality.SLA != nil {
		sc.Trend.SLA = diff(sc.Quality.SLA.Share, pq.SLA)
	}
	return sc
}

// previousFigures computes the headline figures of the previous period.
func previousFigures(mo journey.Moment, d periodData, now time.Time) PeriodFigures {
	f := PeriodFigures{Occurrences: d.tally.occurrences}
	f.MedianDays = num(daysQuantiles(d.tally.took, 0.5)[0])
	f.Conformance = idealFigures(mo, d.tally, now, false).Conformance
	if d.survey.Answers > 0 {
		f.Score = num(stats.MeanT(d.survey.Scores).Mean)
	}
	if met, due, ok := slaCounts(mo, d.tally, now); ok && due > 0 {
		f.SLA = num(float64(met) / float64(due))
	}
	return f
}

// slaCounts counts, of the occurrences delivered or past the moment's SLA
// by now, those delivered within it; ok is false when the map sets no SLA.
func slaCounts(mo journey.Moment, t tally, now time.Time) (met, due int, ok bool) {
	sla, err := journey.ParseDuration(mo.SLA)
	if err != nil || sla.IsZero() {
		return 0, 0, false
	}
	return t.slaMet, t.slaDelivered + passed(t.slaOpen, now), true
}

// deliveredAt is when an occurrence reached the moment's end: its
// metrics.time.to event, or, for a moment without one, its run finishing
// as done. Nil while it has not.
func deliveredAt(mo journey.Moment, o store.Occurrence) *time.Time {
	if mo.Metrics.Time.To != "" {
		return o.To
	}
	if o.Status == store.RunDone {
		return o.FinishedAt
	}
	return nil
}

// endsAtMilestone reports whether the moment's time.to event reaches a
// success-path milestone marked value or implemented.
func endsAtMilestone(m *journey.Map, mo journey.Moment) bool {
	if mo.Metrics.Time.To == "" {
		return false
	}
	for _, p := range m.SuccessPaths {
		for _, ms := range p.Milestones {
			if (ms.Value || ms.Implemented) && slices.Contains(ms.Events, mo.Metrics.Time.To) {
				return true
			}
		}
	}
	return false
}

// milestoneTimes fills the time to value (or implementation) when the
// moment's time.to event reaches a success-path milestone marked so.
func milestoneTimes(m *journey.Map, mo journey.Moment, paths []accountPath, t *TimeFigures) {
	if mo.Metrics.Time.To == "" || len(paths) == 0 {
		return
	}
	// Once per account reached: its state is the same in every occurrence
	// (a change clears the day summaries that keep it).
	slices.SortFunc(paths, func(a, b accountPath) int { return cmp.Compare(a.account, b.account) })
	paths = slices.CompactFunc(paths, func(a, b accountPath) bool { return a.account == b.account })
	for _, p := range m.SuccessPaths {
		for _, ms := range p.Milestones {
			if !(ms.Value || ms.Implemented) || !slices.Contains(ms.Events, mo.Metrics.Time.To) {
				continue
			}
			var xs []float64
			for _, a := range paths {
				pr := a.path
				if pr.PathID != p.ID {
					continue
				}
				d := pr.TimeToValue
				if !ms.Value {
					d = pr.TimeToImplementation
				}
				if d != nil {
					xs = append(xs, d.Hours()/24)
				}
			}
			if len(xs) == 0 {
				continue
			}
			t.Milestone = p.ID + "/" + ms.ID
			t.MilestoneAccounts = len(xs)
			if ms.Value {
				t.TimeToValueDays = num(stats.Median(xs))
			} else {
				t.TimeToImplementation = num(stats.Median(xs))
			}
			return
		}
	}
}

// gap is 1 − conformance, or 1 − SLA adherence when no ideal step is
// measured; nil when neither is known.
func gap(conformance *float64, sla *Share) *float64 {
	switch {
	case conformance != nil:
		return num(1 - *conformance)
	case sla != nil && sla.Share != nil:
		return num(1 - *sla.Share)
	}
	return nil
}

func diff(a, b *float64) *float64 {
	if a == nil || b == nil {
		return nil
	}
	return num(*a - *b)
}

// rank orders scorecards by priority (importance × gap), highest first;
// those without a gap follow by importance. Ties keep map order.
func rank(cards []Scorecard) {
	slices.SortStableFunc(cards, func(a, b Scorecard) int {
		switch {
		case a.Priority != nil && b.Priority == nil:
			return -1
		case a.Priority == nil && b.Priority != nil:
			return 1
		case a.Priority != nil && b.Priority != nil && *a.Priority != *b.Priority:
			return cmp.Compare(*b.Priority, *a.Priority)
		}
		return cmp.Compare(b.Importance, a.Importance)
	})
	for i := range cards {
		cards[i].Rank = i + 1
	}
}
