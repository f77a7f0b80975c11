package api

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/moments-cs/moments/internal/web"

	"github.com/moments-cs/moments/internal/store"
)

func page(r *http.Request) (store.Page, error) {
	p := store.Page{Cursor: r.URL.Query().Get("cursor")}
	if l := r.URL.Query().Get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		if err != nil || n < 1 || n > 500 {
			return p, web.BadRequest("invalid_parameter", "limit", "limit must be a whole number from 1 to 500")
		}
		p.Limit = n
	}
	return p, nil
}

// storeError maps store errors to API errors.
func storeError(err error, what string) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return web.NotFound(what)
	case errors.Is(err, store.ErrBadCursor):
		return web.BadRequest("invalid_parameter", "cursor", "cursor is not one this server issued; start again without it")
	}
	return err
}

func (s *Server) listAccounts(w http.ResponseWriter, r *http.Request) error {
	p, aerr := page(r)
	if aerr != nil {
		return aerr
	}
	q := r.URL.Query()
	accts, next, err := s.Store.ListAccounts(r.Context(), store.AccountFilter{
		Segment: q.Get("segment"), Owner: q.Get("owner"), Stage: q.Get("stage"),
	}, p)
	if err != nil {
		return storeError(err, "page")
	}
	if accts == nil {
		accts = []store.Account{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"accounts": accts, "next_cursor": next})
	return nil
}

// timelineLength is how many of the latest events an account or contact
// page carries; older ones are one /api/v1/events call away.
const timelineLength = 50

func (s *Server) getAccount(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	a, err := s.Store.Account(r.Context(), id)
	if err != nil {
		return storeError(err, "account "+strconv.Quote(id))
	}
	contacts, err := s.Store.AccountContacts(r.Context(), id)
	if err != nil {
		return err
	}
	events, next, err := s.Store.ListEvents(r.Context(), store.EventFilter{Account: id}, store.Page{Limit: timelineLength})
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"account": a, "contacts": web.NonNil(contacts), "timeline": web.NonNil(events), "timeline_next_cursor": next})
	return nil
}

func (s *Server) getContact(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	c, err := s.Store.Contact(r.Context(), id)
	if err != nil {
		return storeError(err, "contact "+strconv.Quote(id))
	}
	events, next, err := s.Store.ListEvents(r.Context(), store.EventFilter{User: id}, store.Page{Limit: timelineLength})
	if err != nil {
		return err
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"contact": c, "timeline": web.NonNil(events), "timeline_next_cursor": next})
	return nil
}

func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) error {
	p, aerr := page(r)
	if aerr != nil {
		return aerr
	}
	q := r.URL.Query()
	events, next, err := s.Store.ListEvents(r.Context(), store.EventFilter{
		Account: q.Get("account"), User: q.Get("user"), Name: q.Get("name"), Type: q.Get("type"),
	}, p)
	if err != nil {
		return storeError(err, "page")
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"events": web.NonNil(events), "next_cursor": next})
	return nil
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}
