// Package webtest starts a whole Moments HTTP server over a test store and
// calls it as the tracking API, the REST API and the UI do: the shared
// fixture of the tests of internal/web/... .
package webtest

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/golden"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/web/server"
)

// Fixture is a running server with a write key, an admin key and a
// signed-in viewer.
type Fixture struct {
	URL   string
	Store *store.Store
	// WriteKey is a server write key, as the vendor's backend holds: it
	// may set contacts' email and names and accounts' owner.
	WriteKey string
	// BrowserKey is a plain write key, as a browser SDK holds.
	BrowserKey string
	AdminKey   string
}

// MetricsToken is the bearer token the fixtures' /metrics requires.
const MetricsToken = "fixture-metrics-token"

// Setup starts a server over a fresh store of dialect d.
func Setup(t testing.TB, d store.Dialect) *Fixture {
	t.Helper()
	return setupOn(t, storetest.Open(t, d))
}

// setupOn is Setup over an open store.
func setupOn(t testing.TB, st *store.Store) *Fixture {
	t.Helper()
	keys := auth.NewKeys(st)
	keys.SetAudit(auth.NewAudit(st, nil))
	admin, browser, err := keys.Bootstrap(context.Background())
	require.NoError(t, err)
	_, write, err := keys.CreateServer(context.Background(), "backend")
	require.NoError(t, err)
	people := auth.NewPeople(st, auth.PeopleConfig{})
	srv := httptest.NewServer(server.New(server.Options{Store: st, Keys: keys, People: people, MetricsToken: MetricsToken}))
	t.Cleanup(srv.Close)
	// A signed-in viewer, for the UI pages (see withSession).
	_, pw, err := people.Add(context.Background(), "viewer@example.com", "", auth.RoleViewer, "")
	require.NoError(t, err)
	token, _, err := people.SignIn(context.Background(), "viewer@example.com", pw, "", "")
	require.NoError(t, err)
	sessions.Store(srv.URL, token)
	return &Fixture{URL: srv.URL, Store: st, WriteKey: write, BrowserKey: browser, AdminKey: admin}
}

// SetupServers starts n servers over one fresh database of dialect d, as
// n server processes sharing a PostgreSQL database would run: each its own
// store (its own committers and connections), all taking the same keys.
// The first is Setup's fixture; the others share its keys.
func SetupServers(t testing.TB, d store.Dialect, n int) []*Fixture {
	t.Helper()
	cfg := storetest.Config(t, d)
	st, err := store.Open(context.Background(), cfg)
	require.NoError(t, err)
	t.Cleanup(func() { st.Close() })
	f := setupOn(t, st)
	out := []*Fixture{f}
	for range n - 1 {
		more, err := store.Open(context.Background(), cfg)
		require.NoError(t, err)
		t.Cleanup(func() { more.Close() })
		keys := auth.NewKeys(more)
		srv := httptest.NewServer(server.New(server.Options{Store: more, Keys: keys, People: auth.NewPeople(more, auth.PeopleConfig{}),
			MetricsToken: MetricsToken}))
		t.Cleanup(srv.Close)
		out = append(out, &Fixture{URL: srv.URL, Store: more, WriteKey: f.WriteKey, BrowserKey: f.BrowserKey, AdminKey: f.AdminKey})
	}
	return out
}

// sessions holds the session token of each fixture's signed-in viewer, by
// the fixture's base URL.
var sessions sync.Map

// WithSession signs a request to a fixture's UI page in as its viewer.
func WithSession(req *http.Request) *http.Request {
	for _, base := range []string{req.URL.Scheme + "://" + req.URL.Host} {
		if tok, ok := sessions.Load(base); ok {
			req.AddCookie(&http.Cookie{Name: "moments_session", Value: tok.(string)})
		}
	}
	return req
}

// Post sends body to path with the write key as the Basic username.
func (f *Fixture) Post(t testing.TB, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", f.URL+path, bytes.NewBufferString(body))
	require.NoError(t, err)
	req.SetBasicAuth(f.WriteKey, "")
	req.Header.Set("Content-Type", "application/json")
	return Do(t, req)
}

// Get calls the REST API with the admin key.
func (f *Fixture) Get(t testing.TB, path string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("GET", f.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+f.AdminKey)
	return Do(t, req)
}

// Do sends req and decodes a JSON object answer.
func Do(t testing.TB, req *http.Request) (int, map[string]any) {
	t.Helper()
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	var body map[string]any
	if len(raw) > 0 && raw[0] == '{' {
		require.NoError(t, json.Unmarshal(raw, &body), string(raw))
	}
	return res.StatusCode, body
}

// ErrorOf returns the code and field of an API error answer.
func ErrorOf(t testing.TB, body map[string]any) (code, field string) {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	require.True(t, ok, "body has an error object: %v", body)
	require.NotEmpty(t, e["message"])
	f, _ := e["field"].(string)
	return e["code"].(string), f
}

// Golden compares got with testdata/name, or rewrites it with -update
// (package golden).
func Golden(t *testing.T, name string, got []byte) {
	t.Helper()
	golden.Assert(t, filepath.Join("testdata", name), got)
}

// ExampleMap is the example journey map of the repository
// (examples/b2b-saas.yaml).
func ExampleMap(t testing.TB) []byte {
	t.Helper()
	raw, err := os.ReadFile("../../../examples/b2b-saas.yaml")
	require.NoError(t, err)
	return raw
}

// PutMap applies a journey map written in YAML through the REST API and
// returns the status of the answer.
func (f *Fixture) PutMap(t testing.TB, yaml []byte) int {
	t.Helper()
	req, err := http.NewRequest("PUT", f.URL+"/api/v1/journey", bytes.NewReader(yaml))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+f.AdminKey)
	req.Header.Set("Content-Type", "application/yaml")
	status, _ := Do(t, req)
	return status
}

// GetRaw calls path with the admin key, asking for accept (when not ""),
// and returns the answer's status, Content-Type and body unparsed.
func (f *Fixture) GetRaw(t testing.TB, path, accept string) (status int, contentType string, body []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", f.URL+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+f.AdminKey)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err = io.ReadAll(res.Body)
	require.NoError(t, err)
	return res.StatusCode, res.Header.Get("Content-Type"), body
}

// GetError calls path with the admin key, requires an API error with
// wantStatus and returns its code and field.
func (f *Fixture) GetError(t testing.TB, path string, wantStatus int) (code, field string) {
	t.Helper()
	status, body := f.Get(t, path)
	require.Equal(t, wantStatus, status, body)
	return ErrorOf(t, body)
}
