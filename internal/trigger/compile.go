package trigger

import (
	"fmt"
	"slices"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/rules"
	"github.com/moments-cs/moments/internal/store"
)

// listener is one moment's compiled trigger (or one personal rule).
type listener struct {
	moment   *journey.Moment
	category string
	when     *rules.Program
	segment  *rules.Program
	sched    *schedule
	// rule is set for a personal rule attached to one account.
	rule *store.AccountRule
}

// compiled is one map version's triggers, compiled once, with the indexes
// ingestion uses to find the listeners of an event.
type compiled struct {
	version int
	m       *journey.Map
	moments map[string]*listener
	// byEvent: event name → the moments listening to it.
	byEvent map[string][]*listener
	// byTrait: account trait → the lifecycle moments entering or leaving
	// one of its values.
	byTrait map[string][]*listener
	// bySignal: built-in signal → the moments listening to it.
	bySignal map[string][]*listener
	// scheduled are the scheduled moments, in map order.
	scheduled []*listener
	// valueTraits and dateTraits must be watched (see store.WatchTraitTx).
	valueTraits []string
	dateTraits  []string
	// problems are the moments skipped because a condition does not
	// compile (lint rejects such maps; a stored one is reported, not fatal).
	problems []string
}

// compile builds the triggers of a map version.
func compile(m *journey.Map, version int) *compiled {
	c := &compiled{version: version, m: m.WithDefaults(), moments: map[string]*listener{},
		byEvent: map[string][]*listener{}, byTrait: map[string][]*listener{}, bySignal: map[string][]*listener{}}
	for i := range c.m.Moments {
		mo := &c.m.Moments[i]
		l, err := compileListener(mo, mo.Trigger.When, mo.Trigger.Schedule)
		if err != nil {
			c.problems = append(c.problems, fmt.Sprintf("moment %q: %v", mo.ID, err))
			continue
		}
		t := mo.Trigger
		if t.Segment != "" {
			if l.segment, err = rules.Compile(t.Segment); err != nil {
				c.problems = append(c.problems, fmt.Sprintf("moment %q segment: %v", mo.ID, err))
				continue
			}
		}
		c.moments[mo.ID] = l
		switch t.Category {
		case journey.CategoryLifecycle, journey.CategoryCustomerEvent:
			for _, name := range t.Events {
				c.byEvent[name] = append(c.byEvent[name], l)
			}
			if t.Category == journey.CategoryLifecycle && (t.Enter != "" || t.Leave != "") {
				trait := t.Trait
				if trait == "" {
					trait = journey.DefaultLifecycleTrait
				}
				c.byTrait[trait] = append(c.byTrait[trait], l)
				if !slices.Contains(c.valueTraits, trait) {
					c.valueTraits = append(c.valueTraits, trait)
				}
			}
			if t.Category == journey.CategoryCustomerEvent && t.Signal != "" {
				c.bySignal[t.Signal] = append(c.bySignal[t.Signal], l)
			}
		case journey.CategoryScheduled:
			if l.sched == nil {
				continue
			}
			c.scheduled = append(c.scheduled, l)
			if rt := l.sched.relativeTo; rt != "" && !slices.Contains(c.dateTraits, rt) {
				c.dateTraits = append(c.dateTraits, rt)
			}
		}
	}
	return c
}

// compileListener compiles a moment's condition and schedule.
func compileListener(mo *journey.Moment, when string, s *journey.Schedule) (*listener, error) {
	l := &listener{moment: mo, category: mo.Trigger.Category}
	var err error
	if when != "" {
		if l.when, err = rules.Compile(when); err != nil {
			return nil, fmt.Errorf("condition: %w", err)
		}
	}
	if s != nil && *s != (journey.Schedule{}) {
		if l.sched, err = parseSchedule(*s); err != nil {
			return nil, fmt.Errorf("schedule: %w", err)
		}
	}
	return l, nil
}

// listening counts the listeners of an event name; for tests and metrics.
func (c *compiled) listening(name string) int { return len(c.byEvent[name]) }
