package report

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/stats"
	"github.com/moments-cs/moments/internal/store"
)

// TTVPoint is one step of a time-to-value curve.
type TTVPoint struct {
	Days float64 `json:"days"`
	// AtRisk counts the accounts still on their way just before Days;
	// Reached those that reached value at Days; Censored those last seen
	// at Days without it (still on their way now).
	AtRisk   int `json:"at_risk"`
	Reached  int `json:"reached"`
	Censored int `json:"censored"`
	// ShareReached is the Kaplan–Meier estimate of the share that has
	// reached value by Days (1 − survival), with its 95 % interval.
	ShareReached float64  `json:"share_reached"`
	Low          *float64 `json:"low"`
	High         *float64 `json:"high"`
}

// TTVGroup is the time-to-value curve of one group of accounts.
type TTVGroup struct {
	Key string `json:"key"`
	// Accounts counts the accounts on the path with a known contract
	// start; Reached those that reached value (the rest are still on
	// their way and counted until today).
	Accounts int `json:"accounts"`
	Reached  int `json:"reached"`
	// MedianDays is when half have reached value by the curve; null while
	// fewer than half have.
	MedianDays *float64 `json:"median_days"`
	// WithinTarget is the estimated share that reached value within the
	// milestone's target days, with its interval.
	WithinTarget     *float64   `json:"within_target"`
	WithinTargetLow  *float64   `json:"within_target_low"`
	WithinTargetHigh *float64   `json:"within_target_high"`
	Curve            []TTVPoint `json:"curve"`
}

// TTVReport is time to value on one success path as survival curves.
type TTVReport struct {
	Path       string     `json:"path"`
	Milestone  string     `json:"milestone"`
	TargetDays int        `json:"target_days"`
	At         time.Time  `json:"at"`
	By         string     `json:"by,omitempty"`
	All        TTVGroup   `json:"all"`
	Groups     []TTVGroup `json:"groups,omitempty"`
}

// TTV builds the time-to-value report of a success path (the map's first
// when path is empty): from each account's contract start to its value
// milestone, with accounts not there yet counted as censored today.
func TTV(ctx context.Context, st Analytics, m *journey.Map, path, by string, now time.Time) (TTVReport, error) {
	if m == nil {
		return TTVReport{}, ErrNoMap
	}
	if err := checkBy(by); err != nil {
		return TTVReport{}, err
	}
	p, err := successPath(m, path)
	if err != nil {
		return TTVReport{}, err
	}
	rep := TTVReport{Path: p.ID, At: now, By: by}
	for _, ms := range p.Milestones {
		if ms.Value {
			rep.Milestone, rep.TargetDays = ms.ID, ms.TargetDays
			break
		}
	}
	if rep.Milestone == "" {
		return rep, paramErrorf("path", "success path %q has no milestone marked value: true; mark the milestone that is the customer's first value", p.ID)
	}
	profiles, err := st.PathAccounts(ctx, p.ID)
	if err != nil {
		return rep, err
	}
	// Each account's time as the curve counts it, grouped once: the
	// profiles themselves are not copied into the groups.
	all := make([]ttvSubject, 0, len(profiles))
	groups := map[string][]ttvSubject{}
	for i := range profiles {
		pr := &profiles[i]
		s := ttvSubject{reached: pr.Reached}
		if s.reached {
			s.days = pr.TimeToValue.Hours() / 24
		} else {
			s.days = daysBetween(pr.ContractStart, now)
		}
		all = append(all, s)
		if by != "" {
			k := breakdownKey(store.AccountProfile{Segment: pr.Segment, Plan: pr.Plan, ContractStart: &pr.ContractStart}, by)
			groups[k] = append(groups[k], s)
		}
	}
	rep.All = ttvGroup("all", all, rep.TargetDays)
	for _, k := range slices.Sorted(maps.Keys(groups)) {
		rep.Groups = append(rep.Groups, ttvGroup(k, groups[k], rep.TargetDays))
	}
	return rep, nil
}

// ttvSubject is one account on the path: its time to value in days, or,
// while it has not reached value, its days since its contract started.
type ttvSubject struct {
	days    float64
	reached bool
}

// ttvGroup computes one group's curve.
func ttvGroup(key string, subjects []ttvSubject, targetDays int) TTVGroup {
	g := TTVGroup{Key: key, Accounts: len(subjects)}
	times := make([]float64, len(subjects))
	reached := make([]bool, len(subjects))
	for i, s := range subjects {
		times[i], reached[i] = s.days, s.reached
		if s.reached {
			g.Reached++
		}
	}
	km := stats.KaplanMeier(times, reached)
	// One allocation for every bound of the curve, not two per point.
	bounds := make([]float64, 2*len(km.Points))
	bound := func(i int, v float64) *float64 {
		if p := num(v); p != nil {
			bounds[i] = *p
			return &bounds[i]
		}
		return nil
	}
	if len(km.Points) > 0 {
		g.Curve = make([]TTVPoint, 0, len(km.Points))
	}
	for i, p := range km.Points {
		pt := TTVPoint{Days: round4(p.T), AtRisk: p.AtRisk, Reached: p.Events, Censored: p.Censored,
			ShareReached: round4(1 - p.Survival)}
		// The share reached is 1 − survival, so its bounds swap.
		pt.Low, pt.High = bound(2*i, 1-p.High), bound(2*i+1, 1-p.Low)
		g.Curve = append(g.Curve, pt)
	}
	g.MedianDays = num(km.Median())
	if len(subjects) > 0 {
		g.WithinTarget = num(1 - km.At(float64(targetDays)))
		for _, p := range km.Points {
			if p.T > float64(targetDays) {
				break
			}
			if p.Events > 0 {
				g.WithinTargetLow, g.WithinTargetHigh = num(1-p.High), num(1-p.Low)
			}
		}
	}
	return g
}

func round4(v float64) float64 {
	if p := num(v); p != nil {
		return *p
	}
	return v
}
