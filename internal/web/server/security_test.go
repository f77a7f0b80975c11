package server_test

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/web/server"
	"github.com/moments-cs/moments/internal/web/webtest"
)

// TestTrackingAPITakesWriteKeysOnly: the admin key is refused by /v1, so
// it need never be put where events are sent from.
func TestTrackingAPITakesWriteKeysOnly(t *testing.T) {
	t.Parallel()
	f := webtest.Setup(t, store.SQLite)
	req, _ := http.NewRequest("POST", f.URL+"/v1/track", strings.NewReader(`{"userId":"u","event":"X"}`))
	req.SetBasicAuth(f.AdminKey, "")
	status, resp := webtest.Do(t, req)
	require.Equal(t, http.StatusUnauthorized, status)
	webtest.ErrorOf(t, resp)
	require.Contains(t, resp["error"].(map[string]any)["message"], `scope "admin"`)
}

// TestWriteKeyCannotSetProtectedTraits: a browser's write key is public,
// so the traits that steer email (a contact's email and names) and rights
// (an account's owner) it sends are ignored; a server write key sets them.
func TestWriteKeyCannotSetProtectedTraits(t *testing.T) {
	t.Parallel()
	f := webtest.Setup(t, store.SQLite)
	ctx := context.Background()
	req, _ := http.NewRequest("POST", f.URL+"/v1/batch", strings.NewReader(`{"batch":[
		{"type":"group","userId":"u1","groupId":"acme","traits":{"name":"Acme","owner":"sam@vendor.example"}},
		{"type":"identify","userId":"u1","context":{"groupId":"acme"},"traits":{"email":"victim@elsewhere.example","first_name":"Click https://evil.example","plan":"pro"}}]}`))
	req.SetBasicAuth(f.BrowserKey, "")
	status, resp := webtest.Do(t, req)
	require.Equal(t, http.StatusOK, status, resp)
	require.Equal(t, []any{"email", "first_name", "owner"}, resp["ignored_traits"],
		"the response says which traits were ignored and why")
	a, err := f.Store.Account(ctx, "acme")
	require.NoError(t, err)
	require.Empty(t, a.Owner, "a public write key cannot make someone an account's owner")
	c, err := f.Store.Contact(ctx, "u1")
	require.NoError(t, err)
	require.Empty(t, c.Email)
	require.NotContains(t, c.Traits, "first_name")
	require.Equal(t, "pro", c.Traits["plan"])

	_, server, err := auth.NewKeys(f.Store).CreateServer(ctx, "backend")
	require.NoError(t, err)
	req, _ = http.NewRequest("POST", f.URL+"/v1/group", strings.NewReader(`{"userId":"u1","groupId":"acme","traits":{"owner":"sam@vendor.example"}}`))
	req.SetBasicAuth(server, "")
	status, resp = webtest.Do(t, req)
	require.Equal(t, http.StatusOK, status, resp)
	require.NotContains(t, resp, "ignored_traits")
	a, err = f.Store.Account(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, "sam@vendor.example", a.Owner, "a server key may set the owner")
}

// TestReportCSVIsInert: an account named like a spreadsheet formula, sent
// through the tracking API, is written inert in every report CSV.
func TestReportCSVIsInert(t *testing.T) {
	t.Parallel()
	f := webtest.Setup(t, store.SQLite)
	status, resp := f.Post(t, "/v1/group", `{"userId":"u1","groupId":"acme","traits":{"name":"=HYPERLINK(\"https://evil.example\",\"Renew now\")","owner":"@SUM(1)"}}`)
	require.Equal(t, http.StatusOK, status, resp)
	for _, report := range []string{"health", "exceptions", "time-to-value", "moments"} {
		req, _ := http.NewRequest("GET", f.URL+"/reports/"+report+".csv", nil)
		res, err := http.DefaultClient.Do(webtest.WithSession(req))
		require.NoError(t, err)
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		require.Equal(t, http.StatusOK, res.StatusCode, report)
		require.NotContains(t, string(body), ",=HYPERLINK", report)
		require.NotContains(t, string(body), ",\"=HYPERLINK", report)
		require.NotContains(t, string(body), ",@SUM", report)
	}
	req, _ := http.NewRequest("GET", f.URL+"/reports/health.csv", nil)
	res, err := http.DefaultClient.Do(webtest.WithSession(req))
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Contains(t, string(body), `'=HYPERLINK`)
}

// TestMetricsAreNotPublic: /metrics on the main port needs the metrics
// token; without a token configured it is served only by MetricsHandler
// (moments serve --metrics-addr), on a port of its own.
func TestMetricsAreNotPublic(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite)
	keys := auth.NewKeys(st)
	get := func(h http.Handler, token string) int {
		srv := httptest.NewServer(h)
		defer srv.Close()
		req, _ := http.NewRequest("GET", srv.URL+"/metrics", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		res.Body.Close()
		return res.StatusCode
	}
	open := server.New(server.Options{Store: st, Keys: keys})
	require.Equal(t, http.StatusNotFound, get(open, ""), "no token set: not on the main port")
	require.Equal(t, http.StatusOK, get(open.MetricsHandler(), ""), "served on its own port")
	guarded := server.New(server.Options{Store: st, Keys: keys, MetricsToken: "s3cret-metrics-token"})
	require.Equal(t, http.StatusUnauthorized, get(guarded, ""))
	require.Equal(t, http.StatusUnauthorized, get(guarded, "wrong"))
	require.Equal(t, http.StatusOK, get(guarded, "s3cret-metrics-token"))
}

// TestHSTSOverTLS: over HTTPS every answer tells browsers to use HTTPS
// from then on; over plain HTTP (where it would be ignored) it is not sent.
func TestHSTSOverTLS(t *testing.T) {
	t.Parallel()
	st := storetest.Open(t, store.SQLite)
	h := server.New(server.Options{Store: st, Keys: auth.NewKeys(st)})
	tlsSrv := httptest.NewTLSServer(h)
	defer tlsSrv.Close()
	res, err := tlsSrv.Client().Get(tlsSrv.URL + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, "max-age=31536000", res.Header.Get("Strict-Transport-Security"))
	plain := httptest.NewServer(h)
	defer plain.Close()
	res, err = http.Get(plain.URL + "/healthz")
	require.NoError(t, err)
	res.Body.Close()
	require.Empty(t, res.Header.Get("Strict-Transport-Security"))
}

// TestWebhookURLsShownToAdminsAndOpsOnly: a webhook URL can hold a secret
// (Slack's do), so the moment page shows a viewer only its host.
func TestWebhookURLsShownToAdminsAndOpsOnly(t *testing.T) {
	t.Parallel()
	f := webtest.Setup(t, store.SQLite)
	data, err := os.ReadFile("../../../examples/b2b-saas.yaml")
	require.NoError(t, err)
	putMap(t, f, data)
	req, _ := http.NewRequest("GET", f.URL+"/journey/moments/contract_signed", nil)
	res, err := http.DefaultClient.Do(webtest.WithSession(req)) // the fixture's viewer
	require.NoError(t, err)
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	require.Equal(t, http.StatusOK, res.StatusCode)
	require.Contains(t, string(body), "hooks.slack.example")
	require.NotContains(t, string(body), "/services/cs-escalations", "a viewer does not see the webhook's path")
}

// TestAccountIDsAreEscapedInURLs: an account id crafted to rewrite a link
// (stored before ingestion refused such ids, or imported) cannot turn the
// account page's Start button into a form that revokes an API key.
func TestAccountIDsAreEscapedInURLs(t *testing.T) {
	t.Parallel()
	f := webtest.Setup(t, store.SQLite)
	ctx := context.Background()
	data, err := os.ReadFile("../../../examples/b2b-saas.yaml")
	require.NoError(t, err)
	putMap(t, f, data)
	const evil = "x/../../settings/keys/1/revoke?"
	now := time.Now().UTC()
	_, err = f.Store.Ingest(ctx, "key_test", []store.Message{{Type: "group", MessageID: "g1", UserID: "u1", GroupID: evil,
		Traits: map[string]any{"name": "Evil Corp"}, Timestamp: now, ReceivedAt: now}})
	require.NoError(t, err)

	people := auth.NewPeople(f.Store, auth.PeopleConfig{})
	_, pw, err := people.Add(ctx, "admin@example.com", "", auth.RoleAdmin, "")
	require.NoError(t, err)
	token, _, err := people.SignIn(ctx, "admin@example.com", pw, "", "")
	require.NoError(t, err)
	get := func(path string) string {
		req, _ := http.NewRequest("GET", f.URL+path, nil)
		req.AddCookie(&http.Cookie{Name: "moments_session", Value: token})
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		require.Equal(t, http.StatusOK, res.StatusCode, path)
		return string(body)
	}
	escaped := url.PathEscape(evil)
	list := get("/accounts")
	require.Contains(t, list, `href="/accounts/`+escaped+`"`)
	require.NotContains(t, list, `href="/accounts/x/`)

	page := get("/accounts/" + escaped)
	require.Contains(t, page, "Evil Corp")
	require.NotContains(t, page, `action="/accounts/x/`, "the Start form posts to the account, not to a key")
	require.Contains(t, page, `action="/accounts/`+escaped+`/moments/`)
}

// TestAuditTrailAPIAndPage: a key revoked in the UI and a map applied with
// the admin key are in the audit trail, with who did them, at
// GET /api/v1/audit and on the admins' Settings page, which others cannot
// open.
func TestAuditTrailAPIAndPage(t *testing.T) {
	t.Parallel()
	f := webtest.Setup(t, store.SQLite)
	ctx := context.Background()
	people := auth.NewPeople(f.Store, auth.PeopleConfig{})
	_, pw, err := people.Add(ctx, "admin@example.com", "", auth.RoleAdmin, "")
	require.NoError(t, err)
	token, se, err := people.SignIn(ctx, "admin@example.com", pw, "", "")
	require.NoError(t, err)
	k, _, err := auth.NewKeys(f.Store).Create(ctx, auth.ScopeWrite, "old source")
	require.NoError(t, err)

	form := url.Values{"csrf": {se.CSRF}}
	req, _ := http.NewRequest("POST", f.URL+"/settings/keys/"+k.ID+"/revoke", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.AddCookie(&http.Cookie{Name: "moments_session", Value: token})
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	require.NoError(t, err)
	res.Body.Close()
	require.Equal(t, http.StatusSeeOther, res.StatusCode)

	data, err := os.ReadFile("../../../examples/b2b-saas.yaml")
	require.NoError(t, err)
	putMap(t, f, data)

	status, body := f.Get(t, "/api/v1/audit")
	require.Equal(t, http.StatusOK, status, body)
	entries := body["entries"].([]any)
	require.GreaterOrEqual(t, len(entries), 2, "newest first: the map, the revocation, then the keys created")
	applied, revoked := entries[0].(map[string]any), entries[1].(map[string]any)
	require.Equal(t, auth.AuditMapApplied, applied["action"])
	require.Regexp(t, `^key:key_`, applied["actor"])
	require.Equal(t, auth.AuditKeyRevoked, revoked["action"])
	require.Equal(t, "user:admin@example.com", revoked["actor"])
	require.Equal(t, k.ID, revoked["target"])
	require.Equal(t, "127.0.0.1", revoked["ip"])

	status, body = f.Get(t, "/api/v1/audit?action=key.revoked&limit=1")
	require.Equal(t, http.StatusOK, status)
	require.Len(t, body["entries"], 1)
	status, body = f.Get(t, "/api/v1/audit?since=yesterday")
	require.Equal(t, http.StatusBadRequest, status)
	_, field := webtest.ErrorOf(t, body)
	require.Equal(t, "since", field)

	page := func(cookie string) (int, string) {
		req, _ := http.NewRequest("GET", f.URL+"/settings/audit", nil)
		req.AddCookie(&http.Cookie{Name: "moments_session", Value: cookie})
		res, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	code, html := page(token)
	require.Equal(t, http.StatusOK, code)
	require.Contains(t, html, "key.revoked")
	require.Contains(t, html, "user:admin@example.com")
	req, _ = http.NewRequest("GET", f.URL+"/settings/audit", nil)
	res, err = http.DefaultClient.Do(webtest.WithSession(req)) // the fixture's viewer
	require.NoError(t, err)
	res.Body.Close()
	code = res.StatusCode
	require.Equal(t, http.StatusForbidden, code, "the audit trail is for admins")
}

// putMap applies a journey map with the admin key.
func putMap(t *testing.T, f *webtest.Fixture, data []byte) {
	t.Helper()
	req, _ := http.NewRequest("PUT", f.URL+"/api/v1/journey?source=b2b-saas.yaml", bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+f.AdminKey)
	req.Header.Set("Content-Type", "application/yaml")
	status, body := webtest.Do(t, req)
	require.Equal(t, http.StatusOK, status, body)
}
