package ui

import (
	"context"
	"errors"
	"net/http"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
)

// The journey pages: the swimlane and each moment's definition, drawn by
// the templates of templates/journey.html from the view models of
// journey_view.go, inside the layout. Beside the map they show what the map
// alone cannot say: how well each moment is delivered, and the runs in
// flight.

type journeyPageData struct {
	Swimlane swimlaneView
	Delivery []*momentDelivery
	Days     int
}

// liveVersion returns the live map with its version record, or
// journey.ErrNoMap when none is applied.
func (s *Server) liveVersion(ctx context.Context) (*journey.Map, store.JourneyVersion, error) {
	m, n, err := s.Journey.Get(ctx)
	if err != nil {
		return nil, store.JourneyVersion{}, err
	}
	v, err := s.Store.JourneyVersionByNumber(ctx, n)
	if err != nil {
		return nil, store.JourneyVersion{}, err
	}
	return m, v, nil
}

// journeyPage is the swimlane, with each moment's delivery over the last
// 90 days as a badge on its card and in a table below.
func (s *Server) journeyPage(w http.ResponseWriter, r *http.Request) error {
	lane, err := s.swimlane(r.Context())
	if err != nil {
		return err
	}
	d := journeyPageData{Swimlane: lane, Days: deliveryDays}
	rows, err := s.deliveryRows(r.Context())
	if err != nil {
		return err
	}
	grades := map[string]*momentDelivery{}
	for _, row := range rows {
		grades[row.MomentID] = row
		if row.Runs > 0 || row.Tasks > 0 {
			d.Delivery = append(d.Delivery, row)
		}
	}
	badge := func(c *momentCardView) {
		if row := grades[c.ID]; row != nil {
			c.Delivery = deliveryBadge(row)
		}
	}
	for _, lane := range d.Swimlane.Lanes {
		for _, cell := range lane.Cells {
			for i := range cell.Cards {
				badge(&cell.Cards[i])
			}
		}
	}
	for i := range d.Swimlane.Unplaced {
		badge(&d.Swimlane.Unplaced[i])
	}
	s.withQuality(r, &d)
	s.withConformance(r, &d)
	s.render(w, r, http.StatusOK, "swimlane", s.view(r, "journey", "Journey", d))
	return nil
}

// deliveryBadge words a moment's delivery for its card.
func deliveryBadge(row *momentDelivery) *cardDelivery {
	short, long := "delivery "+row.Grade(), "Delivery over the last 90 days: "+row.Grade()
	if share := row.OnTimeShare(); share >= 0 {
		short += " · " + percent(share)
		long += ", " + percent(share) + " of runs on time against the SLA"
	}
	if row.Escalated > 0 {
		long += ", " + plural(row.Escalated, "escalated task", "escalated tasks")
	}
	return &cardDelivery{Grade: row.Grade(), Short: short, Long: long}
}

type momentPageData struct {
	Moment   momentPageView
	MomentID string
	Runs     []store.Run
	Accounts map[string]string
	Delivery *momentDelivery
	// Ideal is the moment's ideal process against the actual one over the
	// last 90 days (analytics.go).
	Ideal *momentIdeal
}

// momentPage is a moment's definition, with its runs in flight. Without a
// map it sends the visitor to the (empty) swimlane.
func (s *Server) momentPage(w http.ResponseWriter, r *http.Request) error {
	ctx := r.Context()
	id := r.PathValue("id")
	mv, err := s.momentView(ctx, id, uiSession(r).Role.Can(auth.PermJourney))
	if errors.Is(err, journey.ErrNoMap) {
		http.Redirect(w, r, "/journey", http.StatusSeeOther)
		return nil
	}
	if err != nil {
		return err
	}
	d := momentPageData{Moment: mv, MomentID: id, Accounts: map[string]string{}}
	for _, status := range []string{store.RunRunning, store.RunWaiting} {
		runs, _, err := s.Store.ListRuns(ctx, store.RunFilter{MomentID: id, Status: status}, store.Page{Limit: 100})
		if err != nil {
			return err
		}
		d.Runs = append(d.Runs, runs...)
	}
	for _, run := range d.Runs {
		if _, ok := d.Accounts[run.AccountID]; !ok {
			a, err := s.Store.Account(ctx, run.AccountID)
			if err == nil && a.Name != "" {
				d.Accounts[run.AccountID] = a.Name
			} else {
				d.Accounts[run.AccountID] = run.AccountID
			}
		}
	}
	if m, _, err := s.liveMap(ctx); err == nil && m != nil {
		d.Ideal = s.momentIdealFigures(r, m, id)
		if byID, _, err := s.momentDeliveries(ctx, m); err == nil {
			d.Delivery = byID[id]
		}
	}
	s.render(w, r, http.StatusOK, "moment", s.view(r, "journey", mv.Card.Name, d))
	return nil
}
