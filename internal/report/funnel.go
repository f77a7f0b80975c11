package report

import (
	"context"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/stats"
	"github.com/moments-cs/moments/internal/store"
)

// Breakdowns a funnel or a time-to-value curve can be split by.
const (
	BySegment = "segment"
	ByPlan    = "plan"
	ByCohort  = "cohort"
)

// Breakdowns lists the accepted breakdowns.
var Breakdowns = []string{BySegment, ByPlan, ByCohort}

// FunnelRequest asks for a funnel by account. Either Events (ordered event
// names) or Path (a success path id, whose milestones are the steps) is
// set; with neither, the map's first success path is used.
type FunnelRequest struct {
	Events []string
	Path   string
	// Days is the entry period: accounts whose first step happened in the
	// last Days enter the funnel. Default DefaultFunnelDays.
	Days int
	// WindowDays is the conversion window: a later step counts only within
	// this many days of the account's first step. Default
	// DefaultConversionWindowDays.
	WindowDays int
	// By breaks the funnel down by segment, plan or cohort (the month the
	// account's contract started); empty for none.
	By string
}

// Funnel defaults.
const (
	DefaultFunnelDays           = 365
	DefaultConversionWindowDays = 90
)

// FunnelStep is one step of a funnel.
type FunnelStep struct {
	// Step is the event name or the milestone id; Label what to show.
	Step     string `json:"step"`
	Label    string `json:"label"`
	Accounts int    `json:"accounts"`
	// Conversion is Accounts over the accounts that entered (first step);
	// FromPrevious over the previous step's accounts; both 0..1, null when
	// the denominator is 0.
	Conversion   *float64 `json:"conversion"`
	FromPrevious *float64 `json:"from_previous"`
	// MedianDays is the median time from the previous step, over the
	// accounts that reached this one.
	MedianDays *float64 `json:"median_days"`
}

// FunnelGroup is the funnel of one breakdown value.
type FunnelGroup struct {
	Key   string       `json:"key"`
	Steps []FunnelStep `json:"steps"`
}

// FunnelReport is a funnel by account.
type FunnelReport struct {
	// Source is "events" or "path:<id>".
	Source     string        `json:"source"`
	Days       int           `json:"days"`
	WindowDays int           `json:"window_days"`
	Period     Period        `json:"period"`
	By         string        `json:"by,omitempty"`
	Steps      []FunnelStep  `json:"steps"`
	Groups     []FunnelGroup `json:"groups,omitempty"`
	// Scope says what a funnel step is: the first time the account (the
	// company, not a user) did it after the previous step.
	Scope string `json:"scope"`
}

// FunnelScope is said on every funnel: steps are per account, in order,
// within the window; steps done by the same object (one report, one
// ticket) are not matched.
const FunnelScope = "per account: each step is the first time anyone at the account did it at or after the previous step, " +
	"within the window from the first step; steps are not matched to the same object (report, ticket)"

// funnelStepDef is one step to look up.
type funnelStepDef struct {
	key, label string
	milestone  bool
}

// Funnel builds a funnel by account as of now.
func Funnel(ctx context.Context, st Analytics, m *journey.Map, req FunnelRequest, now time.Time) (FunnelReport, error) {
	if req.Days == 0 {
		req.Days = DefaultFunnelDays
	}
	if req.WindowDays == 0 {
		req.WindowDays = DefaultConversionWindowDays
	}
	if err := checkFunnel(req); err != nil {
		return FunnelReport{}, err
	}
	defs, source, err := funnelSteps(m, req)
	if err != nil {
		return FunnelReport{}, err
	}
	if len(req.Events) > 0 {
		if _, err := st.WatchAnalyticsNames(ctx, req.Events); err != nil {
			return FunnelReport{}, err
		}
	}
	from := now.AddDate(0, 0, -req.Days)
	rep := FunnelReport{Source: source, Days: req.Days, WindowDays: req.WindowDays, Period: Period{from, now}, By: req.By,
		Scope: FunnelScope}
	window := time.Duration(req.WindowDays) * 24 * time.Hour
	var paths [][]time.Time
	var groups map[string][][]time.Time
	if len(req.Events) == 0 {
		paths, groups, err = milestonePaths(ctx, st, defs, from, now, window, req.By)
	} else {
		paths, groups, err = eventPaths(ctx, st, defs, from, now, window, req.By)
	}
	if err != nil {
		return rep, err
	}
	rep.Steps = funnelFigures(defs, paths)
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		rep.Groups = append(rep.Groups, FunnelGroup{Key: k, Steps: funnelFigures(defs, groups[k])})
	}
	return rep, nil
}

// eventPaths walks the accounts through the funnel's events, one step's
// marks at a time in time order, and splits their paths by the breakdown
// (none when by is empty).
func eventPaths(ctx context.Context, st Analytics, defs []funnelStepDef, from, now time.Time, window time.Duration,
	by string) ([][]time.Time, map[string][][]time.Time, error) {
	w := funnelWalk{index: map[string]int32{}, steps: len(defs), window: window}
	for i, d := range defs {
		// Later steps come at or after the first, so the same period
		// holds every mark a path can use.
		if err := st.EachFirstMark(ctx, d.key, d.milestone, from, now, func(account []byte, at int64) {
			w.step(i, account, time.UnixMicro(at).UTC())
		}); err != nil {
			return nil, nil, err
		}
	}
	if by == "" {
		return w.paths, nil, nil
	}
	groups, err := funnelGroups(ctx, st, &w, by)
	return w.paths, groups, err
}

// milestonePaths walks each account through the path's milestones from
// its one row of milestones reached (EachAccountMilestones), as the walk
// over each milestone's reaches did: the first milestone in the period,
// each later one at or after the previous, by now and within the window
// from the first. An account reaches a milestone once, so the first it
// misses ends its path. By segment or plan the rows come with the label;
// by cohort the accounts are looked up in their profiles.
func milestonePaths(ctx context.Context, st Analytics, defs []funnelStepDef, from, now time.Time, window time.Duration,
	by string) ([][]time.Time, map[string][][]time.Time, error) {
	ids := make([]string, len(defs))
	for i, d := range defs {
		ids[i] = d.key
	}
	column := "account"
	if by == BySegment || by == ByPlan {
		column = by
	}
	lo, hi, win := from.UnixMicro(), now.UnixMicro(), window.Microseconds()
	var (
		paths [][]time.Time
		keys  []string // per path: its label, or by cohort its account
		slab  []time.Time
		// The last label read and its group: labels come in runs.
		raw, label = "", breakdownKey(store.AccountProfile{}, by)
	)
	err := st.EachAccountMilestones(ctx, column, ids, func(key []byte, at []int64) {
		if at[0] == store.NotReached || at[0] < lo || at[0] > hi {
			return
		}
		n := 1
		for n < len(at) && at[n] != store.NotReached && at[n] >= at[n-1] && at[n] <= hi && at[n]-at[0] <= win {
			n++
		}
		if len(slab) < n {
			slab = make([]time.Time, max(n, len(defs)*4096))
		}
		p := slab[:n:n]
		slab = slab[n:]
		for i := range p {
			p[i] = time.UnixMicro(at[i]).UTC()
		}
		paths = append(paths, p)
		switch {
		case by == "":
		case column == "account":
			keys = append(keys, string(key))
		default:
			if string(key) != raw {
				raw = string(key)
				label = breakdownKey(store.AccountProfile{Segment: raw, Plan: raw}, by)
			}
			keys = append(keys, label)
		}
	})
	if err != nil || by == "" {
		return paths, nil, err
	}
	if column == "account" { // by cohort: the accounts' keys from their profiles
		profiles, err := st.AccountProfiles(ctx)
		if err != nil {
			return nil, nil, err
		}
		cohort := make(map[string]string, len(profiles))
		for _, p := range profiles {
			cohort[p.AccountID] = breakdownKey(p, by)
		}
		for i, account := range keys {
			if keys[i] = cohort[account]; keys[i] == "" {
				keys[i] = breakdownKey(store.AccountProfile{}, by)
			}
		}
	}
	groups := map[string][][]time.Time{}
	for i, k := range keys {
		groups[k] = append(groups[k], paths[i])
	}
	return paths, groups, nil
}

// funnelGroups splits the accounts' paths by the breakdown: a segment or
// plan from the accounts alone, a cohort from their contract start. An
// account that entered but has no accounts row counts as "unknown".
func funnelGroups(ctx context.Context, st Analytics, w *funnelWalk, by string) (map[string][][]time.Time, error) {
	groups := map[string][][]time.Time{}
	grouped := make([]bool, len(w.paths))
	add := func(k int32, key string) {
		if !grouped[k] {
			grouped[k] = true
			groups[key] = append(groups[key], w.paths[k])
		}
	}
	if by == BySegment || by == ByPlan {
		if err := st.EachAccountLabel(ctx, by, func(account []byte, label string) {
			if k, ok := w.index[string(account)]; ok {
				add(k, breakdownKey(store.AccountProfile{Segment: label, Plan: label}, by))
			}
		}); err != nil {
			return nil, err
		}
	} else {
		profiles, err := st.AccountProfiles(ctx)
		if err != nil {
			return nil, err
		}
		for _, p := range profiles {
			if k, ok := w.index[p.AccountID]; ok {
				add(k, breakdownKey(p, by))
			}
		}
	}
	for k := range w.paths {
		add(int32(k), breakdownKey(store.AccountProfile{}, by))
	}
	return groups, nil
}

// checkFunnel checks a funnel request's numbers, breakdown and steps.
func checkFunnel(req FunnelRequest) error {
	if err := CheckDays(req.Days); err != nil {
		return err
	}
	if req.WindowDays < 1 || req.WindowDays > MaxDays {
		return paramErrorf("window_days", "window_days must be from 1 to %d, got %d", MaxDays, req.WindowDays)
	}
	if len(req.Events) > 0 && req.Path != "" {
		return paramErrorf("path", "give either events or path, not both")
	}
	if len(req.Events) > maxFunnelSteps {
		return paramErrorf("events", "a funnel has at most %d steps, got %d", maxFunnelSteps, len(req.Events))
	}
	for _, e := range req.Events {
		if strings.TrimSpace(e) == "" {
			return paramErrorf("events", "events: a step has no event name; separate event names with commas")
		}
	}
	return checkBy(req.By)
}

// maxFunnelSteps bounds a funnel's steps.
const maxFunnelSteps = 20

// checkBy checks a breakdown.
func checkBy(by string) error {
	if by != "" && !slices.Contains(Breakdowns, by) {
		return paramErrorf("by", "by must be one of %s, got %q", strings.Join(Breakdowns, ", "), by)
	}
	return nil
}

// funnelSteps resolves the request into the steps to look up.
func funnelSteps(m *journey.Map, req FunnelRequest) ([]funnelStepDef, string, error) {
	if len(req.Events) > 0 {
		var defs []funnelStepDef
		for _, e := range req.Events {
			e = strings.TrimSpace(e)
			defs = append(defs, funnelStepDef{key: e, label: e})
		}
		return defs, "events", nil
	}
	if m == nil {
		return nil, "", ErrNoMap
	}
	p, err := successPath(m, req.Path)
	if err != nil {
		return nil, "", err
	}
	var defs []funnelStepDef
	for _, ms := range p.Milestones {
		defs = append(defs, funnelStepDef{key: ms.ID, label: ms.Name, milestone: true})
	}
	return defs, "path:" + p.ID, nil
}

// successPath finds a success path by id, or the map's first.
func successPath(m *journey.Map, id string) (journey.SuccessPath, error) {
	if len(m.SuccessPaths) == 0 {
		return journey.SuccessPath{}, paramErrorf("path", "the journey map has no success paths; add one, or give the funnel's events")
	}
	if id == "" {
		return m.SuccessPaths[0], nil
	}
	var ids []string
	for _, p := range m.SuccessPaths {
		if p.ID == id {
			return p, nil
		}
		ids = append(ids, p.ID)
	}
	return journey.SuccessPath{}, paramErrorf("path", "path %q is not a success path of the map; its paths are %s", id, strings.Join(ids, ", "))
}

// funnelWalk holds, per account that entered, the time of each step
// reached so far (paths, indexed by index); the paths share slabs of
// steps times each, so 100,000 accounts are a few allocations, not
// 100,000 growing slices.
type funnelWalk struct {
	index  map[string]int32
	paths  [][]time.Time
	slab   []time.Time
	steps  int
	window time.Duration
}

// step walks the accounts through step i, given its marks in time order
// (EachFirstMark): the first step is an account's first mark in the
// period; each later step the first mark at or after the previous step,
// if it is within the window from the first (a later mark is later still,
// so the account stops there).
func (w *funnelWalk) step(i int, account []byte, at time.Time) {
	k, ok := w.index[string(account)]
	switch {
	case i == 0:
		if !ok {
			if len(w.slab) < w.steps {
				w.slab = make([]time.Time, w.steps*4096)
			}
			p := w.slab[:1:w.steps]
			w.slab = w.slab[w.steps:]
			p[0] = at
			w.index[string(account)] = int32(len(w.paths))
			w.paths = append(w.paths, p)
		}
	case !ok || len(w.paths[k]) != i || at.Before(w.paths[k][i-1]):
	case at.Sub(w.paths[k][0]) > w.window:
		// Past the window: so is every later mark, the account stops.
	default:
		w.paths[k] = append(w.paths[k], at)
	}
}

// funnelFigures counts the accounts at each step, given the steps each
// account reached.
func funnelFigures(defs []funnelStepDef, paths [][]time.Time) []FunnelStep {
	steps := make([]FunnelStep, len(defs))
	gaps := make([][]float64, len(defs))
	for _, reached := range paths {
		for i := range reached {
			steps[i].Accounts++
			if i > 0 {
				gaps[i] = append(gaps[i], daysBetween(reached[i-1], reached[i]))
			}
		}
	}
	for i, d := range defs {
		steps[i].Step, steps[i].Label = d.key, d.label
		if steps[0].Accounts > 0 {
			steps[i].Conversion = num(float64(steps[i].Accounts) / float64(steps[0].Accounts))
		}
		if i > 0 && steps[i-1].Accounts > 0 {
			steps[i].FromPrevious = num(float64(steps[i].Accounts) / float64(steps[i-1].Accounts))
		}
		steps[i].MedianDays = num(stats.Median(gaps[i]))
	}
	return steps
}

// breakdownKey is the account's value of a breakdown; "unknown" when the
// account has none.
func breakdownKey(p store.AccountProfile, by string) string {
	var k string
	switch by {
	case BySegment:
		k = p.Segment
	case ByPlan:
		k = p.Plan
	case ByCohort:
		if p.ContractStart != nil {
			k = p.ContractStart.UTC().Format("2006-01")
		}
	}
	if k == "" {
		return "unknown"
	}
	return k
}
