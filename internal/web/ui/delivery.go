package ui

import (
	"context"
	"github.com/moments-cs/moments/internal/vocab"
	"time"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
)

// deliveryDays is the period over which moments' delivery is measured.
const deliveryDays = 90

// maxDeliveryRows bounds the runs and tasks one delivery summary reads.
const maxDeliveryRows = 100_000

// momentDelivery is how well one moment was delivered over the period: its
// runs against the moment's SLA, and its tasks.
type momentDelivery struct {
	MomentID string
	Name     string
	Stage    string
	Owner    string
	SLA      string
	Runs     int
	Running  int
	Done     int
	Failed   int
	// OnTime counts runs finished within the SLA; Late those finished
	// after it or still running past it. Judged counts the runs that are
	// either (so a share can be given).
	OnTime, Late, Judged                      int
	Tasks, TasksOpen, TasksDone, TasksOverdue int
	Escalated                                 int
}

// OnTimeShare is the share of judged runs delivered on time, or -1 when
// no run could be judged (no SLA, or none finished or late yet).
func (d *momentDelivery) OnTimeShare() float64 {
	if d.Judged == 0 {
		return -1
	}
	return float64(d.OnTime) / float64(d.Judged)
}

// Grade is the word the journey map colours a moment by: good (≥ 90 % on
// time and nothing escalated), fair (≥ 70 %, or an escalation), poor
// (below 70 %), none (nothing to judge yet).
func (d *momentDelivery) Grade() string {
	share := d.OnTimeShare()
	switch {
	case share < 0 && d.Escalated == 0:
		return "none"
	case share < 0:
		return "fair"
	case share >= 0.9 && d.Escalated == 0:
		return "good"
	case share >= 0.7:
		return "fair"
	}
	return "poor"
}

// momentDeliveries summarises the runs and tasks of the last deliveryDays per
// moment of m (moments no longer in m are reported too, by id).
func (s *Server) momentDeliveries(ctx context.Context, m *journey.Map) (map[string]*momentDelivery, []string, error) {
	now := s.Now()
	since := now.Add(-deliveryDays * 24 * time.Hour)
	out := map[string]*momentDelivery{}
	var order []string
	sla := map[string]time.Duration{}
	get := func(id string) *momentDelivery {
		d, ok := out[id]
		if !ok {
			d = &momentDelivery{MomentID: id, Name: id}
			out[id] = d
			order = append(order, id)
		}
		return d
	}
	if m != nil {
		for _, mo := range m.Moments {
			d := get(mo.ID)
			d.Name, d.Stage, d.Owner, d.SLA = mo.Name, mo.Stage, mo.Owner, mo.SLA
			if d.Name == "" {
				d.Name = mo.ID
			}
			if mo.SLA != "" {
				if dur, err := journey.ParseDuration(mo.SLA); err == nil {
					sla[mo.ID] = dur.Approx()
				}
			}
		}
	}
	p := store.Page{Limit: 500}
	read := 0
runs:
	for {
		page, next, err := s.Store.ListRuns(ctx, store.RunFilter{}, p)
		if err != nil {
			return nil, nil, err
		}
		for _, r := range page {
			if r.CreatedAt.Before(since) {
				break runs // newest first: the rest are older
			}
			d := get(r.MomentID)
			d.Runs++
			switch r.Status {
			case store.RunDone:
				d.Done++
			case store.RunFailed:
				d.Failed++
			default:
				d.Running++
			}
			limit, ok := sla[r.MomentID]
			if !ok || limit <= 0 {
				continue
			}
			switch {
			case r.FinishedAt != nil && r.Status == store.RunDone:
				d.Judged++
				if r.FinishedAt.Sub(r.CreatedAt) <= limit {
					d.OnTime++
				} else {
					d.Late++
				}
			case r.FinishedAt == nil && now.Sub(r.CreatedAt) > limit:
				d.Judged++
				d.Late++
			}
		}
		read += len(page)
		if next == "" || read >= maxDeliveryRows {
			break
		}
		p.Cursor = next
	}
	p = store.Page{Limit: 500}
	read = 0
	for {
		page, next, err := s.Store.ListTasks(ctx, store.TaskFilter{}, now, p)
		if err != nil {
			return nil, nil, err
		}
		for _, t := range page {
			if t.CreatedAt.Before(since) {
				continue
			}
			d := get(t.MomentID)
			d.Tasks++
			switch t.Display(now) {
			case vocab.TaskDone:
				d.TasksDone++
			case vocab.TaskOverdue:
				d.TasksOverdue++
				d.TasksOpen++
			default:
				d.TasksOpen++
			}
			if t.EscalationLevel > 0 {
				d.Escalated++
			}
		}
		read += len(page)
		if next == "" || read >= maxDeliveryRows {
			break
		}
		p.Cursor = next
	}
	return out, order, nil
}
