package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/web"
)

type fixture struct {
	url   string
	store *store.Store
	// writeKey is a server write key, as the vendor's backend holds: it
	// may set contacts' email and names and accounts' owner.
	writeKey string
	// browserKey is a plain write key, as a browser SDK holds.
	browserKey string
	adminKey   string
}

func setup(t testing.TB, d store.Dialect) *fixture {
	t.Helper()
	st := storetest.Open(t, d)
	keys := auth.NewKeys(st)
	keys.SetAudit(auth.NewAudit(st, nil))
	admin, browser, err := keys.Bootstrap(context.Background())
	require.NoError(t, err)
	_, write, err := keys.CreateServer(context.Background(), "backend")
	require.NoError(t, err)
	people := auth.NewPeople(st, auth.PeopleConfig{})
	srv := httptest.NewServer(web.New(web.Options{Store: st, Keys: keys, People: people, MetricsToken: metricsToken}))
	t.Cleanup(srv.Close)
	// A signed-in viewer, for the UI pages (see withSession).
	_, pw, err := people.Add(context.Background(), "viewer@example.com", "", auth.RoleViewer, "")
	require.NoError(t, err)
	token, _, err := people.SignIn(context.Background(), "viewer@example.com", pw, "", "")
	require.NoError(t, err)
	sessions.Store(srv.URL, token)
	return &fixture{url: srv.URL, store: st, writeKey: write, browserKey: browser, adminKey: admin}
}

// sessions holds the session token of each fixture's signed-in viewer, by
// the fixture's base URL.
var sessions sync.Map

// withSession signs a request to a fixture's UI page in as its viewer.
func withSession(req *http.Request) *http.Request {
	for _, base := range []string{req.URL.Scheme + "://" + req.URL.Host} {
		if tok, ok := sessions.Load(base); ok {
			req.AddCookie(&http.Cookie{Name: "moments_session", Value: tok.(string)})
		}
	}
	return req
}

// post sends body to path with the write key as the Basic username.
func (f *fixture) post(t testing.TB, path, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("POST", f.url+path, bytes.NewBufferString(body))
	require.NoError(t, err)
	req.SetBasicAuth(f.writeKey, "")
	req.Header.Set("Content-Type", "application/json")
	return do(t, req)
}

// get calls the REST API with the admin key.
func (f *fixture) get(t testing.TB, path string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest("GET", f.url+path, nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+f.adminKey)
	return do(t, req)
}

func do(t testing.TB, req *http.Request) (int, map[string]any) {
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

func errorOf(t testing.TB, body map[string]any) (code, field string) {
	t.Helper()
	e, ok := body["error"].(map[string]any)
	require.True(t, ok, "body has an error object: %v", body)
	require.NotEmpty(t, e["message"])
	f, _ := e["field"].(string)
	return e["code"].(string), f
}

// metricsToken is the bearer token the fixtures' /metrics requires.
const metricsToken = "fixture-metrics-token"
