package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/moments-cs/moments/internal/store"
)

func page(r *http.Request) (store.Page, *apiError) {
	p := store.Page{Cursor: r.URL.Query().Get("cursor")}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 500 {
			return p, badRequest("invalid_parameter", "limit", "limit must be a whole number from 1 to 500")
		}
		p.Limit = n
	}
	return p, nil
}

// storeError maps store errors to API errors.
func storeError(err error, what string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound(what)
	case errors.Is(err, store.ErrBadCursor):
		return badRequest("invalid_parameter", "cursor", "cursor is not one this server issued; start again without it")
	}
	return err
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) {
	p, aerr := page(r)
	if aerr != nil {
		s.writeError(w, r, aerr, nil)
		return
	}
	q := r.URL.Query()
	accts, next, err := s.store.ListAccounts(r.Context(), store.AccountFilter{
		Segment: q.Get("segment"), Owner: q.Get("owner"), Stage: q.Get("stage"),
	}, p)
	if err != nil {
		s.writeError(w, r, storeError(err, "page"), nil)
		return
	}
	if accts == nil {
		accts = []store.Account{}
	}
	writeJSON(w, http.StatusOK, map[string]any{"accounts": accts, "next_cursor": next})
}

// timelineLength is how many of the latest events an account or contact
// page carries; older ones are one /api/v1/events call away.
const timelineLength = 50

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	a, err := s.store.Account(r.Context(), id)
	if err != nil {
		s.writeError(w, r, storeError(err, "account "+strconv.Quote(id)), nil)
		return
	}
	contacts, err := s.store.AccountContacts(r.Context(), id)
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	events, next, err := s.store.ListEvents(r.Context(), store.EventFilter{Account: id}, store.Page{Limit: timelineLength})
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"account": a, "contacts": nonNil(contacts), "timeline": nonNil(events), "timeline_next_cursor": next})
}

func (s *Server) getContact(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	c, err := s.store.Contact(r.Context(), id)
	if err != nil {
		s.writeError(w, r, storeError(err, "contact "+strconv.Quote(id)), nil)
		return
	}
	events, next, err := s.store.ListEvents(r.Context(), store.EventFilter{User: id}, store.Page{Limit: timelineLength})
	if err != nil {
		s.writeError(w, r, err, nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"contact": c, "timeline": nonNil(events), "timeline_next_cursor": next})
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	p, aerr := page(r)
	if aerr != nil {
		s.writeError(w, r, aerr, nil)
		return
	}
	q := r.URL.Query()
	events, next, err := s.store.ListEvents(r.Context(), store.EventFilter{
		Account: q.Get("account"), User: q.Get("user"), Name: q.Get("name"), Type: q.Get("type"),
	}, p)
	if err != nil {
		s.writeError(w, r, storeError(err, "page"), nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"events": nonNil(events), "next_cursor": next})
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}
