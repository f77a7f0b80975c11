package journey

import (
	"cmp"
	"slices"
)

// Swimlane is the journey map laid out as a swimlane: stages as columns in
// map order, teams as rows in map order, each moment in its owner's row and
// its stage's column. It is data only; the web package draws it.
type Swimlane struct {
	Stages []Stage `json:"stages"`
	Lanes  []Lane  `json:"lanes"`
	// Unplaced holds moments whose stage or owner is not in the map (a
	// map that does not lint clean), so that nothing silently disappears.
	Unplaced []LaneMoment `json:"unplaced,omitempty"`
}

// Lane is one team's row.
type Lane struct {
	Team Team `json:"team"`
	// Cells has one cell per stage, in the order of Swimlane.Stages.
	Cells []Cell `json:"cells"`
}

// Cell is the moments one team owns in one stage.
type Cell struct {
	Stage   string       `json:"stage"`
	Moments []LaneMoment `json:"moments,omitempty"`
}

// LaneMoment is a moment as the swimlane shows it.
type LaneMoment struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Stage      string     `json:"stage"`
	Owner      string     `json:"owner"`
	Supporters []string   `json:"supporters,omitempty"`
	Importance Importance `json:"importance"`
	// Score is the importance score, 0–20.
	Score    int    `json:"score"`
	Category string `json:"category"`
	SLA      string `json:"sla,omitempty"`
}

// Lanes lays the map out as a swimlane. Within a cell, moments keep their
// map order.
func Lanes(m *Map) Swimlane {
	sw := Swimlane{Stages: slices.Clone(m.Stages), Lanes: make([]Lane, len(m.Teams))}
	col := map[string]int{}
	for i, s := range m.Stages {
		if _, dup := col[s.ID]; !dup {
			col[s.ID] = i
		}
	}
	row := map[string]int{}
	for i, t := range m.Teams {
		if _, dup := row[t.ID]; !dup {
			row[t.ID] = i
		}
		cells := make([]Cell, len(m.Stages))
		for j, s := range m.Stages {
			cells[j].Stage = s.ID
		}
		sw.Lanes[i] = Lane{Team: t, Cells: cells}
	}
	for _, mo := range m.Moments {
		lm := LaneMoment{
			ID: mo.ID, Name: mo.Name, Stage: mo.Stage, Owner: mo.Owner,
			Supporters: slices.Clone(mo.Supporters), Importance: mo.Importance,
			Score: mo.Importance.Score(), Category: mo.Trigger.Category, SLA: mo.SLA,
		}
		c, okStage := col[mo.Stage]
		r, okOwner := row[mo.Owner]
		if !okStage || !okOwner {
			sw.Unplaced = append(sw.Unplaced, lm)
			continue
		}
		cell := &sw.Lanes[r].Cells[c]
		cell.Moments = append(cell.Moments, lm)
	}
	return sw
}

// RankedMoments returns the map's moments, most important first: by
// importance score, then stage order, then id.
func (m *Map) RankedMoments() []Moment {
	stageOrder := map[string]int{}
	for i, s := range m.Stages {
		if _, dup := stageOrder[s.ID]; !dup {
			stageOrder[s.ID] = i
		}
	}
	order := func(stage string) int {
		if i, ok := stageOrder[stage]; ok {
			return i
		}
		return len(m.Stages) // unknown stages last
	}
	ranked := slices.Clone(m.Moments)
	slices.SortStableFunc(ranked, func(a, b Moment) int {
		return cmp.Or(
			cmp.Compare(b.Importance.Score(), a.Importance.Score()),
			cmp.Compare(order(a.Stage), order(b.Stage)),
			cmp.Compare(a.ID, b.ID),
		)
	})
	return ranked
}
