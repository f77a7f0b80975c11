package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/moments-cs/moments/internal/web"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
)

// journeyRoutes registers the journey map's API.
func (s *Server) journeyRoutes(rt *web.Router) {
	rt.Handle("PUT /api/v1/journey", s.admin(s.putJourney))
	rt.Handle("GET /api/v1/journey", s.admin(s.getJourney))
	rt.Handle("GET /api/v1/journey/versions", s.admin(s.listJourneyVersions))
	rt.Handle("GET /api/v1/journey/versions/{n}", s.admin(s.getJourneyVersion))
	rt.Handle("GET /api/v1/moments", s.admin(s.listMoments))
}

// errNoJourney is the answer wherever a map is needed and none is applied.
func errNoJourney() error {
	return &web.Error{Status: http.StatusNotFound, Code: "no_journey_map",
		Message: "no journey map has been applied yet: apply one with `moments map apply examples/b2b-saas.yaml` or PUT /api/v1/journey"}
}

// journeyDiagnostic is a lint finding as the API returns it.
type journeyDiagnostic struct {
	Line     int              `json:"line"`
	Col      int              `json:"col"`
	Severity journey.Severity `json:"severity"`
	Message  string           `json:"message"`
	Path     string           `json:"path,omitempty"`
}

func apiDiagnostics(diags []journey.Diagnostic) []journeyDiagnostic {
	out := make([]journeyDiagnostic, len(diags))
	for i, d := range diags {
		out[i] = journeyDiagnostic{Line: d.Line, Col: d.Col, Severity: d.Severity, Message: d.Message, Path: d.Path}
	}
	return out
}

// mapFormat is how a journey map is written in a request or a response.
type mapFormat int

const (
	formatYAML mapFormat = iota
	formatJSON
)

// bodyFormat reads the format of a PUT body from its Content-Type. A body
// without one (or sent as text/plain) is read as YAML, of which JSON is a
// subset, so `curl --data-binary @map.yaml -H 'Content-Type: text/plain'`
// works too.
func journeyBodyFormat(r *http.Request) (mapFormat, error) {
	ct := r.Header.Get("Content-Type")
	if ct == "" {
		return formatYAML, nil
	}
	mt, _, err := mime.ParseMediaType(ct)
	if err == nil {
		switch mt {
		case "application/json":
			return formatJSON, nil
		case "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml", "text/plain":
			return formatYAML, nil
		}
	}
	return 0, &web.Error{Status: http.StatusUnsupportedMediaType, Code: "unsupported_media_type", Field: "Content-Type",
		Message: fmt.Sprintf("send the journey map as YAML (Content-Type: application/yaml) or JSON (Content-Type: application/json), not %q", ct)}
}

// wantsYAML reports whether the client asked for YAML in its Accept header.
func wantsYAML(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept"), ",") {
		mt, _, _ := mime.ParseMediaType(strings.TrimSpace(part))
		switch mt {
		case "application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml":
			return true
		}
	}
	return false
}

// maxSourceLength bounds the ?source= name recorded with a version.
const maxSourceLength = 200

func (s *Server) putJourney(w http.ResponseWriter, r *http.Request) error {
	format, aerr := journeyBodyFormat(r)
	if aerr != nil {
		return aerr
	}
	source := r.URL.Query().Get("source")
	if source == "" {
		source = "api"
	}
	if len(source) > maxSourceLength {
		return web.BadRequest("invalid_parameter", "source",
			fmt.Sprintf("source names the file the map came from and may be at most %d characters", maxSourceLength))
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, journey.MaxMapSize))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return &web.Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large",
				Message: fmt.Sprintf("a journey map may be at most %d bytes (1 MiB); check that this is the right file", journey.MaxMapSize)}
		}
		return web.BadRequest("invalid_body", "", "the request body could not be read: "+err.Error())
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return web.BadRequest("invalid_body", "", "the body is empty; send the journey map as YAML or JSON")
	}
	if format == formatJSON {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			return web.BadRequest("invalid_json", "", "the body is not valid JSON: "+err.Error())
		}
	}
	// JSON is read by the YAML parser too (JSON is YAML), so diagnostics
	// point at the line and column of the JSON text.
	res, err := s.Journey.Apply(r.Context(), source, body, appliedBy(r))
	if errors.Is(err, store.ErrConflict) {
		return &web.Error{Status: http.StatusConflict, Code: "conflict",
			Message: "another version of the map was applied at the same moment; send the request again"}
	}
	if err != nil {
		return err
	}
	if journey.HasErrors(res.Diagnostics) {
		return lintError(res.Diagnostics).WithExtra(map[string]any{"diagnostics": apiDiagnostics(res.Diagnostics)})
	}
	changes := res.Changes
	if changes == nil {
		changes = []journey.Change{}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{
		"version": res.Version, "changed": res.Changed, "changes": changes,
		"warnings": apiDiagnostics(res.Diagnostics),
	})
	return nil
}

// lintError summarises a map's errors; its field is the first error's path.
func lintError(diags []journey.Diagnostic) *web.Error {
	var first journey.Diagnostic
	n := 0
	for _, d := range diags {
		if d.Severity == journey.SeverityWarning {
			continue
		}
		if n == 0 {
			first = d
		}
		n++
	}
	where := ""
	if first.Line > 0 {
		where = fmt.Sprintf(", at line %d, column %d", first.Line, first.Col)
	}
	msg := fmt.Sprintf("the journey map has %s, so nothing was applied (diagnostics lists every problem); the first%s: %s",
		journeyCount(n, "error"), where, first.Message)
	return web.BadRequest("invalid_journey_map", first.Path, msg)
}

func journeyCount(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// appliedBy names who applies a map through the API: the API key's name.
func appliedBy(r *http.Request) string {
	key, ok := requestKey(r)
	switch {
	case !ok:
		return "api"
	case key.Name != "":
		return key.Name
	}
	return "API key " + key.ID
}

// journeyVersion returns version n of the map with its record, or the live
// version when n is 0.
func (s *Server) journeyVersion(ctx context.Context, n int) (*journey.Map, store.JourneyVersion, error) {
	var (
		m   *journey.Map
		err error
	)
	if n == 0 {
		m, n, err = s.Journey.Get(ctx)
	} else {
		m, err = s.Journey.Version(ctx, n)
	}
	if errors.Is(err, journey.ErrNoMap) {
		return nil, store.JourneyVersion{}, errNoJourney()
	}
	if errors.Is(err, store.ErrNotFound) {
		return nil, store.JourneyVersion{}, &web.Error{Status: http.StatusNotFound, Code: "not_found", Field: "n",
			Message: fmt.Sprintf("there is no version %d of the journey map; GET /api/v1/journey/versions lists them", n)}
	}
	if err != nil {
		return nil, store.JourneyVersion{}, err
	}
	v, err := s.Store.JourneyVersionByNumber(ctx, n)
	if err != nil {
		return nil, store.JourneyVersion{}, fmt.Errorf("read journey map version %d: %w", n, err)
	}
	v.Content = nil
	return m, v, nil
}

// writeMap answers with a map version: JSON with its record, or the map
// alone as YAML (the record then in headers) when the client accepts YAML.
func (s *Server) writeMap(w http.ResponseWriter, r *http.Request, m *journey.Map, v store.JourneyVersion, live int) error {
	w.Header().Set("ETag", strconv.Quote(v.Hash))
	if wantsYAML(r) {
		text, err := journey.Marshal(m)
		if err != nil {
			return err
		}
		h := w.Header()
		h.Set("Content-Type", "application/yaml; charset=utf-8")
		h.Set("Journey-Version", strconv.Itoa(v.Number))
		h.Set("Journey-Applied-By", v.AppliedBy)
		h.Set("Journey-Applied-At", v.AppliedAt.UTC().Format(time.RFC3339))
		h.Set("Journey-Source", v.Source)
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(text)
		return nil
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{
		"version": v.Number, "live": v.Number == live, "hash": v.Hash, "source": v.Source,
		"applied_by": v.AppliedBy, "applied_at": v.AppliedAt, "map": m,
	})
	return nil
}

func (s *Server) getJourney(w http.ResponseWriter, r *http.Request) error {
	m, v, err := s.journeyVersion(r.Context(), 0)
	if err != nil {
		return err
	}
	return s.writeMap(w, r, m, v, v.Number)
}

func (s *Server) getJourneyVersion(w http.ResponseWriter, r *http.Request) error {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 1 {
		return web.BadRequest("invalid_parameter", "n", "the version must be a whole number from 1 up")
	}
	m, v, err := s.journeyVersion(r.Context(), n)
	if err != nil {
		return err
	}
	live, err := s.Store.LiveJourneyNumber(r.Context())
	if err != nil {
		return err
	}
	return s.writeMap(w, r, m, v, live)
}

// journeyVersionItem is one version in the list.
type journeyVersionItem struct {
	store.JourneyVersion
	Live bool `json:"live"`
}

func (s *Server) listJourneyVersions(w http.ResponseWriter, r *http.Request) error {
	versions, err := s.Store.JourneyVersions(r.Context())
	if err != nil {
		return err
	}
	items := make([]journeyVersionItem, len(versions))
	for i, v := range versions {
		items[i] = journeyVersionItem{JourneyVersion: v, Live: i == 0}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"versions": items})
	return nil
}

// rankedMoment is a moment in the importance ranking.
type rankedMoment struct {
	Rank            int                `json:"rank"`
	ID              string             `json:"id"`
	Name            string             `json:"name"`
	Stage           string             `json:"stage"`
	Owner           string             `json:"owner"`
	Supporters      []string           `json:"supporters"`
	Importance      journey.Importance `json:"importance"`
	ImportanceScore int                `json:"importance_score"`
	TriggerCategory string             `json:"trigger_category"`
	SLA             string             `json:"sla,omitempty"`
}

func (s *Server) listMoments(w http.ResponseWriter, r *http.Request) error {
	m, n, err := s.Journey.Get(r.Context())
	if errors.Is(err, journey.ErrNoMap) {
		err = errNoJourney()
	}
	if err != nil {
		return err
	}
	ranked := m.RankedMoments()
	out := make([]rankedMoment, len(ranked))
	for i, mo := range ranked {
		out[i] = rankedMoment{
			Rank: i + 1, ID: mo.ID, Name: mo.Name, Stage: mo.Stage, Owner: mo.Owner,
			Supporters: web.NonNil(mo.Supporters), Importance: mo.Importance, ImportanceScore: mo.Importance.Score(),
			TriggerCategory: mo.Trigger.Category, SLA: mo.SLA,
		}
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"version": n, "moments": out})
	return nil
}
