package health

import (
	"math"
	"slices"
	"time"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/vocab"
)

// Component names of the components that keep their information across
// the range (see docs/health.md, "Why these components").
const (
	ComponentIntensity    = "intensity"
	ComponentTrend        = "trend"
	ComponentRelationship = "relationship"
	ComponentSupportLoad  = "support_load"
)

// Settings of the components below that the health model does not (yet)
// expose. Each is chosen so that the component still tells accounts apart
// at both ends of the range, rather than giving full marks early.
const (
	// IntensityHalf is the activity events per seat (or per active user
	// when seats are unknown) in 30 days that score 50: about two uses a
	// week per seat. The score is x ÷ (x + IntensityHalf), so it keeps
	// rising, ever more slowly, and never caps.
	IntensityHalf = 8.0
	// TrendWindows is how many behavioural windows the trend looks at: the
	// last window against the two before it (30 days against 60).
	TrendWindows = 3
	// TrendMinEvents is the activity the trend needs in the earlier
	// windows to be known: below it, a change is noise.
	TrendMinEvents = 10
	// ExecutiveFullDays and ExecutiveZeroDays shape the relationship
	// component: full marks while a sponsor or champion acted in the last
	// 30 days, falling linearly to 0 at 120 days without one.
	ExecutiveFullDays = 30
	ExecutiveZeroDays = 120
	// SponsorChangeDays is how long a sponsor leaving or being replaced
	// halves the relationship component: a new sponsor has not yet
	// decided to renew.
	SponsorChangeDays = 180
	// SupportLoadHalf is the tickets opened per 10 seats in 30 days that
	// halve the support load component.
	SupportLoadHalf = 1.0
	// FeatureReferenceQuantile is the share of a segment's accounts that
	// use at most the reference number of features: breadth is judged
	// against what the segment's broad users use, not its average.
	FeatureReferenceQuantile = 0.9
)

// intensity is the activity per seat (or per active user) in the window.
func (s *scorer) intensity(weight float64) Component {
	c := Component{Name: ComponentIntensity, Group: GroupBehavioural, Weight: weight}
	n, _ := s.frequencyWindow()
	events := s.eventsIn(s.nowDay-n, s.nowDay)
	per, unit := float64(s.acct.Seats), "seat"
	if s.acct.Seats <= 0 {
		per, unit = float64(s.activeUsers()), "active user"
	}
	if per <= 0 {
		c.Value = Known(0)
		s.reason(&c, false, "no activity in the last %d days", n)
		return c
	}
	x := float64(events) / per * 30 / float64(n)
	c.Value = Known(100 * x / (x + IntensityHalf))
	s.reason(&c, false, "%.1f activity events per %s in 30 days (half marks at %g)", x, unit, IntensityHalf)
	c.Events = s.recentActivity()
	return c
}

// trend compares the daily activity of the last window with the two
// windows before it.
func (s *scorer) trend(weight float64) Component {
	c := Component{Name: ComponentTrend, Group: GroupBehavioural, Weight: weight}
	w := s.window
	if !s.acct.ContractStart.IsZero() && s.nowDay-dayOf(s.acct.ContractStart.Unix())+1 < TrendWindows*w {
		s.reason(&c, false, "the contract is younger than %d days", TrendWindows*w)
		return c
	}
	last := s.eventsIn(s.nowDay-w, s.nowDay)
	before := s.eventsIn(s.nowDay-TrendWindows*w, s.nowDay-w)
	if before < TrendMinEvents {
		s.reason(&c, false, "too little activity before the last %d days to see a trend (%d events, %d needed)", w, before, TrendMinEvents)
		return c
	}
	ratio := (float64(last) / float64(w)) / (float64(before) / float64((TrendWindows-1)*w))
	c.Value = Known(100 * min(ratio, 1))
	s.reason(&c, false, "daily activity in the last %d days is %.0f%% of the %d days before (%d against %d events)",
		w, 100*ratio, (TrendWindows-1)*w, last, before)
	return c
}

// sponsorChangeEvent names the sponsor leaving or changing among the events
// that moved the relationship component.
const sponsorChangeEvent = "sponsor change"

// relationship reads how recently a sponsor or champion acted, and whether
// the sponsor left or changed.
func (s *scorer) relationship(weight float64) Component {
	c := Component{Name: ComponentRelationship, Group: GroupBehavioural, Weight: weight}
	var last int64
	for _, e := range s.agg.Executives {
		if e.Last <= s.nowSec {
			last = max(last, e.Last)
		}
	}
	left := s.sponsorChange()
	if last == 0 && left.IsZero() {
		c.Reason = "no sponsor or champion seen: give contacts the role trait sponsor or champion"
		return c
	}
	if last == 0 {
		c.Value = Known(0)
		s.reason(&c, false, "no sponsor or champion has acted")
	} else {
		days := float64(s.nowSec-last) / secondsPerDay
		c.Value = Known(ramp(days, ExecutiveFullDays, ExecutiveZeroDays))
		s.reason(&c, false, "a sponsor or champion last acted %s", ago(s.now.Sub(unix(last))))
	}
	if !left.IsZero() {
		c.Value = Known(c.Value.Score / 2)
		s.reason(&c, true, "; a sponsor or champion left or changed on %s (halved for %d days)", left.Format(time.DateOnly), SponsorChangeDays)
		c.Events = append(c.Events, Moved{Event: sponsorChangeEvent, At: left})
	}
	return c
}

// sponsorChange returns when the sponsor left or was replaced within
// SponsorChangeDays, or the zero time: the account's SponsorLeft, a
// sponsor first seen after another sponsor was last seen, or a sponsor or
// champion given another role or none by an identify call (and not named
// again since).
func (s *scorer) sponsorChange() time.Time {
	cut := s.nowSec - SponsorChangeDays*secondsPerDay
	var at int64
	if t := s.acct.SponsorLeft; !t.IsZero() && t.Unix() > cut && t.Unix() <= s.nowSec {
		at = t.Unix()
	}
	for _, k := range s.agg.KeyContacts {
		if k.Dropped > cut && k.Dropped <= s.nowSec && k.Dropped > k.Named {
			at = max(at, k.Dropped)
		}
	}
	for _, n := range s.agg.Executives {
		if n.Role != vocab.RoleSponsor || n.First <= cut || n.First > s.nowSec {
			continue
		}
		for _, o := range s.agg.Executives {
			if o.Role == vocab.RoleSponsor && o.Hash != n.Hash && o.Last < n.First {
				at = max(at, n.First)
			}
		}
	}
	if at == 0 {
		return time.Time{}
	}
	return unix(at)
}

// supportLoad is the tickets opened per 10 seats (or active users) in 30
// days, over the tickets kept (the last TicketRetentionDays).
func (s *scorer) supportLoad(weight float64) Component {
	c := Component{Name: ComponentSupportLoad, Group: GroupBehavioural, Weight: weight}
	per := float64(s.acct.Seats)
	if per <= 0 {
		per = float64(s.activeUsers())
	}
	if per <= 0 {
		c.Reason = "seat count unknown and no active users to weigh tickets against"
		return c
	}
	opened := 0
	for _, t := range s.agg.Tickets {
		if t.Kind == TicketOpened && t.At <= s.nowSec && t.At > s.nowSec-TicketRetentionDays*secondsPerDay {
			opened++
			if len(c.Events) < maxMoved {
				c.Events = append(c.Events, Moved{Event: vocab.EventTicketOpened, At: unix(t.At)})
			}
		}
	}
	rate := float64(opened) / per * 10 * 30 / TicketRetentionDays
	c.Value = Known(100 / (1 + rate/SupportLoadHalf))
	s.reason(&c, false, "%s opened in the last %d days: %.1f per 10 seats a month (half marks at %g)",
		plural(opened, "ticket", "tickets"), TicketRetentionDays, rate, SupportLoadHalf)
	return c
}

// frequencyWindow returns the days over which frequency and intensity are
// judged: the window, or the days since the contract started when fewer.
func (s *scorer) frequencyWindow() (n int64, sinceStart bool) {
	n = s.window
	if !s.acct.ContractStart.IsZero() {
		days := s.nowDay - dayOf(s.acct.ContractStart.Unix()) + 1
		if days < n {
			return max(days, 1), true
		}
	}
	return n, false
}

// eventsIn counts activity events on the days after from up to to.
func (s *scorer) eventsIn(from, to int64) int {
	n := 0
	for _, d := range s.agg.Days {
		if d.Day > from && d.Day <= to {
			n += d.Count
		}
	}
	return n
}

func (s *scorer) activeUsers() int {
	n := 0
	for _, u := range s.agg.Users {
		if s.inWindow(u.Day, s.window) {
			n++
		}
	}
	return n
}

// featuresUsed counts the features used in the window.
func (s *scorer) featuresUsed() int {
	n := 0
	for _, t := range s.agg.Features {
		if s.inWindow(dayOf(t), s.window) {
			n++
		}
	}
	return n
}

// FeatureReference returns the number of features the broad users among
// aggs use in the window ending at now: the FeatureReferenceQuantile
// quantile of each aggregate's features used, at least 1. Pass the
// aggregates of one segment, and give the result to Score as
// AccountInfo.SegmentFeatures, so that breadth without key features
// compares each account with what its segment uses.
func FeatureReference(aggs []*Aggregate, model journey.HealthModel, now time.Time) int {
	if len(aggs) == 0 {
		return 0
	}
	counts := make([]int, 0, len(aggs))
	for _, a := range aggs {
		s := scorer{agg: a, now: now, nowSec: now.Unix(), nowDay: dayOf(now.Unix()), window: windowDays(model)}
		counts = append(counts, s.featuresUsed())
	}
	slices.Sort(counts)
	i := int(math.Ceil(FeatureReferenceQuantile*float64(len(counts)))) - 1
	return max(counts[max(i, 0)], 1)
}
