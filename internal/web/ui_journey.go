package web

import (
	"bytes"
	"html/template"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"

	"github.com/moments-cs/moments/internal/store"
)

// The journey pages are drawn by journey_view.go (the swimlane and the
// moment definition, styled by ui/journey.css). The UI puts them behind
// sign-in and inside its layout, and adds what the map alone cannot say:
// how well each moment is delivered, and the runs in flight.

// journeyBody renders one of the journey pages and returns its status, its
// title and the inside of its <body>, to be placed in the layout.
func (s *Server) journeyBody(h http.HandlerFunc, r *http.Request) (*httptest.ResponseRecorder, string, template.HTML) {
	rec := httptest.NewRecorder()
	h(rec, r)
	page := rec.Body.String()
	title := ""
	if m := titleRE.FindStringSubmatch(page); m != nil {
		title = strings.TrimSuffix(strings.TrimSuffix(m[1], " · Moments"), " · Journey map")
	}
	body := page
	if i := strings.Index(page, `<body class="jm-body">`); i >= 0 {
		body = page[i+len(`<body class="jm-body">`):]
		if j := strings.LastIndex(body, "</body>"); j >= 0 {
			body = body[:j]
		}
	}
	// The swimlane's page heading is the page's heading here.
	return rec, title, template.HTML(body) //nolint:gosec // rendered by html/template in journey_view.go
}

var titleRE = regexp.MustCompile(`<title>([^<]*)</title>`)

type journeyPageData struct {
	Body     template.HTML
	Delivery []*momentDelivery
	Days     int
}

// uiJourneyPage is the swimlane in the layout, with each moment's delivery
// over the last 90 days.
func (s *Server) uiJourneyPage(w http.ResponseWriter, r *http.Request) {
	rec, _, body := s.journeyBody(s.journeyPage, r)
	if rec.Code != http.StatusOK {
		copyResponse(w, rec)
		return
	}
	d := journeyPageData{Body: body, Days: deliveryDays}
	rows, err := s.deliveryRows(r.Context())
	if err != nil {
		s.uiError(w, r, err)
		return
	}
	for _, row := range rows {
		if row.Runs > 0 || row.Tasks > 0 {
			d.Delivery = append(d.Delivery, row)
		}
	}
	// The cards carry their delivery as a word and a colour.
	grades := map[string]*momentDelivery{}
	for _, row := range rows {
		grades[row.MomentID] = row
	}
	d.Body = template.HTML(cardRE.ReplaceAllStringFunc(string(d.Body), func(m string) string { //nolint:gosec // our own markup
		id := cardRE.FindStringSubmatch(m)[1]
		row := grades[id]
		if row == nil {
			return m
		}
		short, long := "delivery "+row.Grade(), "Delivery over the last 90 days: "+row.Grade()
		if share := row.OnTimeShare(); share >= 0 {
			short += " · " + percent(share)
			long += ", " + percent(share) + " of runs on time against the SLA"
		}
		if row.Escalated > 0 {
			long += ", " + plural(row.Escalated, "escalated task", "escalated tasks")
		}
		badge := `<div class="delivery"><span class="badge b-` + row.Grade() + `" title="` + template.HTMLEscapeString(long) + `">` +
			template.HTMLEscapeString(short) + `</span></div>`
		return strings.TrimSuffix(m, "</article>") + badge + "</article>"
	}))
	v := s.view(r, "journey", "Journey", d)
	s.render(w, r, http.StatusOK, "swimlane", v)
}

// cardRE finds the opening of each card on the swimlane.
var cardRE = regexp.MustCompile(`(?s)<article class="jm-card[^"]*" data-moment="([^"]+)">.*?</article>`)

type momentPageData struct {
	Body     template.HTML
	MomentID string
	Runs     []store.Run
	Accounts map[string]string
	Delivery *momentDelivery
	// Ideal is the moment's ideal process against the actual one over the
	// last 90 days (ui_analytics.go).
	Ideal *momentIdeal
}

// uiMomentPage is a moment's definition in the layout, with its runs in
// flight.
func (s *Server) uiMomentPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	rec, title, body := s.journeyBody(s.momentPage, r)
	if rec.Code != http.StatusOK {
		if rec.Code == http.StatusNotFound {
			s.uiError(w, r, uiNotFound("The live journey map has no moment "+strconv.Quote(r.PathValue("id"))+"."))
			return
		}
		copyResponse(w, rec)
		return
	}
	id := r.PathValue("id")
	d := momentPageData{Body: body, MomentID: id, Accounts: map[string]string{}}
	for _, status := range []string{store.RunRunning, store.RunWaiting} {
		runs, _, err := s.store.ListRuns(ctx, store.RunFilter{MomentID: id, Status: status}, store.Page{Limit: 100})
		if err != nil {
			s.uiError(w, r, err)
			return
		}
		d.Runs = append(d.Runs, runs...)
	}
	for _, run := range d.Runs {
		if _, ok := d.Accounts[run.AccountID]; !ok {
			a, err := s.store.Account(ctx, run.AccountID)
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
	v := s.view(r, "journey", title, d)
	s.render(w, r, http.StatusOK, "moment", v)
}

// copyResponse passes a recorded response through (a redirect, an error).
func copyResponse(w http.ResponseWriter, rec *httptest.ResponseRecorder) {
	for k, v := range rec.Header() {
		w.Header()[k] = v
	}
	w.WriteHeader(rec.Code)
	_, _ = w.Write(bytes.Clone(rec.Body.Bytes()))
}
