package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/web/webtest"
)

// journeyCall is one request to the journey API.
type journeyCall struct {
	method, path string
	contentType  string
	accept       string
	body         []byte
	noKey        bool
}

// journeyReply is the answer: status, headers, raw body and, for JSON, the
// decoded object.
type journeyReply struct {
	status int
	header http.Header
	raw    []byte
	json   map[string]any
}

func callJourney(f *webtest.Fixture, t testing.TB, c journeyCall) journeyReply {
	t.Helper()
	req, err := http.NewRequest(c.method, f.URL+c.path, bytes.NewReader(c.body))
	require.NoError(t, err)
	if !c.noKey {
		req.Header.Set("Authorization", "Bearer "+f.AdminKey)
	}
	if c.contentType != "" {
		req.Header.Set("Content-Type", c.contentType)
	}
	if c.accept != "" {
		req.Header.Set("Accept", c.accept)
	}
	res, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	out := journeyReply{status: res.StatusCode, header: res.Header, raw: raw}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(raw, &out.json), string(raw))
	}
	return out
}

func putMap(f *webtest.Fixture, t testing.TB, contentType string, body []byte) journeyReply {
	t.Helper()
	return callJourney(f, t, journeyCall{method: "PUT", path: "/api/v1/journey?source=b2b-saas.yaml", contentType: contentType, body: body})
}

// TestJourneyAPI applies, re-applies, exports and lists journey maps
// through the REST API, on every database.
func TestJourneyAPI(t *testing.T) {
	t.Parallel()
	example := webtest.ExampleMap(t)
	for _, d := range storetest.Dialects() {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			f := webtest.Setup(t, d)

			// Before any map: a helpful 404 and an empty history.
			for _, path := range []string{"/api/v1/journey", "/api/v1/moments"} {
				r := callJourney(f, t, journeyCall{method: "GET", path: path})
				require.Equal(t, http.StatusNotFound, r.status, path)
				code, _ := webtest.ErrorOf(t, r.json)
				require.Equal(t, "no_journey_map", code)
				require.Contains(t, r.json["error"].(map[string]any)["message"], "moments map apply examples/b2b-saas.yaml")
			}
			r := callJourney(f, t, journeyCall{method: "GET", path: "/api/v1/journey/versions"})
			require.Equal(t, http.StatusOK, r.status)
			require.Equal(t, []any{}, r.json["versions"])

			// Apply as YAML; identical content is no change.
			r = putMap(f, t, "application/yaml", example)
			require.Equal(t, http.StatusOK, r.status, string(r.raw))
			require.Equal(t, 1.0, r.json["version"])
			require.Equal(t, true, r.json["changed"])
			require.Contains(t, r.json["changes"], map[string]any{"kind": "added", "area": "moment", "id": "contract_signed",
				"name": "Contract signed → kickoff", "detail": "stage committing, owner customer_success"})
			r = putMap(f, t, "application/x-yaml; charset=utf-8", example)
			require.Equal(t, http.StatusOK, r.status, string(r.raw))
			require.Equal(t, map[string]any{"version": 1.0, "changed": false, "changes": []any{}, "warnings": []any{}}, r.json)

			// The live map as JSON, with its record; its JSON form applies
			// as no change.
			r = callJourney(f, t, journeyCall{method: "GET", path: "/api/v1/journey"})
			require.Equal(t, http.StatusOK, r.status)
			require.Equal(t, 1.0, r.json["version"])
			require.Equal(t, true, r.json["live"])
			require.Equal(t, "first admin key", r.json["applied_by"], "applied_by is the API key's name")
			require.Equal(t, "b2b-saas.yaml", r.json["source"])
			require.Equal(t, `"`+r.json["hash"].(string)+`"`, r.header.Get("ETag"))
			m := r.json["map"].(map[string]any)
			require.Equal(t, "Northwind Analytics customer journey", m["name"])
			asJSON, err := json.Marshal(m)
			require.NoError(t, err)
			r = putMap(f, t, "application/json", asJSON)
			require.Equal(t, http.StatusOK, r.status, string(r.raw))
			require.Equal(t, false, r.json["changed"], "the JSON export applies as no change")

			// The live map as YAML: export(apply(x)) lints clean and
			// applies as no change.
			r = callJourney(f, t, journeyCall{method: "GET", path: "/api/v1/journey", accept: "text/html, application/yaml;q=0.9"})
			require.Equal(t, http.StatusOK, r.status)
			require.Equal(t, "application/yaml; charset=utf-8", r.header.Get("Content-Type"))
			require.Equal(t, "1", r.header.Get("Journey-Version"))
			require.Equal(t, "first admin key", r.header.Get("Journey-Applied-By"))
			exported := r.raw
			_, diags := journey.Lint("exported.yaml", exported)
			require.Empty(t, diags)
			r = putMap(f, t, "text/yaml", exported)
			require.Equal(t, false, r.json["changed"])

			// A change, sent as JSON: a new version, moment by moment.
			changed := strings.Replace(string(exported), "sla: 1bd", "sla: 2bd", 1)
			parsed, diags := journey.Parse("changed.yaml", []byte(changed))
			require.Empty(t, diags)
			asJSON, err = json.MarshalIndent(parsed, "", "\t")
			require.NoError(t, err)
			r = putMap(f, t, "application/json", asJSON)
			require.Equal(t, http.StatusOK, r.status, string(r.raw))
			require.Equal(t, 2.0, r.json["version"])
			require.Equal(t, true, r.json["changed"])
			require.Equal(t, []any{map[string]any{"kind": "changed", "area": "moment", "id": "trial_started",
				"name": "Trial started", "fields": []any{"sla"}}}, r.json["changes"])

			// History, newest first; old versions stay readable.
			r = callJourney(f, t, journeyCall{method: "GET", path: "/api/v1/journey/versions"})
			require.Equal(t, http.StatusOK, r.status)
			versions := r.json["versions"].([]any)
			require.Len(t, versions, 2)
			v2, v1 := versions[0].(map[string]any), versions[1].(map[string]any)
			require.Equal(t, 2.0, v2["number"])
			require.Equal(t, true, v2["live"])
			require.Equal(t, 1.0, v1["number"])
			require.Equal(t, false, v1["live"])
			require.Equal(t, "first admin key", v1["applied_by"])
			require.NotEmpty(t, v1["applied_at"])
			require.Len(t, v1["hash"], 64)
			require.NotContains(t, v1, "content")

			r = callJourney(f, t, journeyCall{method: "GET", path: "/api/v1/journey/versions/1"})
			require.Equal(t, http.StatusOK, r.status)
			require.Equal(t, 1.0, r.json["version"])
			require.Equal(t, false, r.json["live"])
			r = callJourney(f, t, journeyCall{method: "GET", path: "/api/v1/journey/versions/1", accept: "application/yaml"})
			require.Equal(t, http.StatusOK, r.status)
			require.Equal(t, string(exported), string(r.raw))
			require.Contains(t, string(r.raw), "sla: 1bd")
			r = callJourney(f, t, journeyCall{method: "GET", path: "/api/v1/journey", accept: "application/yaml"})
			require.Equal(t, "2", r.header.Get("Journey-Version"))
			require.Contains(t, string(r.raw), "sla: 2bd")
		})
	}
}

// TestJourneyAPIRefusesBadMaps lists the ways a PUT is refused; none of
// them creates a version.
func TestJourneyAPIRefusesBadMaps(t *testing.T) {
	t.Parallel()
	example := webtest.ExampleMap(t)
	brokenYAML := strings.Replace(string(example), "owner: marketing", "owner: marketting", 1)
	parsed, diags := journey.Parse("example.yaml", example)
	require.Empty(t, diags)
	parsed.Moments[2].Importance.Revenue = 9
	brokenJSON, err := json.MarshalIndent(parsed, "", "  ")
	require.NoError(t, err)
	revenueLine, revenueCol := 0, 0
	for i, l := range strings.Split(string(brokenJSON), "\n") {
		if j := strings.Index(l, `"revenue": 9`); j >= 0 {
			revenueLine, revenueCol = i+1, j+len(`"revenue": `)+1
		}
	}
	require.NotZero(t, revenueLine)

	f := webtest.Setup(t, storetest.Dialects()[0])
	tests := []struct {
		name        string
		call        journeyCall
		status      int
		code, field string
		// diagnostic is the first diagnostic expected, when there are some.
		diagnostic map[string]any
	}{
		{name: "lint errors in YAML", call: journeyCall{contentType: "application/yaml", body: []byte(brokenYAML)},
			status: 400, code: "invalid_journey_map", field: "moments[0].owner",
			diagnostic: map[string]any{"line": 63.0, "col": 12.0, "severity": "error", "path": "moments[0].owner",
				"message": `owner "marketting" is not one of the map's teams; did you mean "marketing"?`}},
		{name: "lint errors in JSON point into the JSON", call: journeyCall{contentType: "application/json", body: brokenJSON},
			status: 400, code: "invalid_journey_map", field: "moments[2].importance.revenue",
			diagnostic: map[string]any{"line": float64(revenueLine), "col": float64(revenueCol), "severity": "error", "path": "moments[2].importance.revenue",
				"message": "importance revenue is 9; it must be from 0 to 5"}},
		{name: "YAML syntax", call: journeyCall{contentType: "application/yaml", body: []byte("version: 1\nstages: [\n")},
			status: 400, code: "invalid_journey_map"},
		{name: "not JSON", call: journeyCall{contentType: "application/json", body: []byte(`{"version": 1,`)},
			status: 400, code: "invalid_json"},
		{name: "empty body", call: journeyCall{contentType: "application/yaml", body: []byte(" \n")},
			status: 400, code: "invalid_body"},
		{name: "other media type", call: journeyCall{contentType: "application/xml", body: []byte("<map/>")},
			status: 415, code: "unsupported_media_type", field: "Content-Type"},
		{name: "over 1 MiB", call: journeyCall{contentType: "application/yaml", body: bytes.Repeat([]byte("# padding\n"), journey.MaxMapSize/10+1)},
			status: 413, code: "too_large"},
		{name: "no API key", call: journeyCall{contentType: "application/yaml", body: example, noKey: true},
			status: 401, code: "unauthorized"},
		{name: "source too long", call: journeyCall{path: "/api/v1/journey?source=" + strings.Repeat("x", 201), contentType: "application/yaml", body: example},
			status: 400, code: "invalid_parameter", field: "source"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.call
			c.method = "PUT"
			if c.path == "" {
				c.path = "/api/v1/journey"
			}
			r := callJourney(f, t, c)
			require.Equal(t, tt.status, r.status, string(r.raw))
			code, field := webtest.ErrorOf(t, r.json)
			require.Equal(t, tt.code, code)
			require.Equal(t, tt.field, field)
			if tt.code == "invalid_journey_map" {
				ds, ok := r.json["diagnostics"].([]any)
				require.True(t, ok, "diagnostics are listed: %s", r.raw)
				require.NotEmpty(t, ds)
				for _, d := range ds {
					require.Subset(t, keys(d.(map[string]any)), []string{"line", "col", "severity", "message"})
				}
				if tt.diagnostic != nil {
					require.Equal(t, tt.diagnostic, ds[0])
					msg := r.json["error"].(map[string]any)["message"].(string)
					require.Contains(t, msg, fmt.Sprintf("the first, at line %v, column %v: %s", ds[0].(map[string]any)["line"],
						ds[0].(map[string]any)["col"], tt.diagnostic["message"]))
				}
			} else {
				require.NotContains(t, r.json, "diagnostics")
			}
		})
	}
	r := callJourney(f, t, journeyCall{method: "GET", path: "/api/v1/journey/versions"})
	require.Equal(t, []any{}, r.json["versions"], "nothing refused was applied")
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestJourneyVersionLookups(t *testing.T) {
	t.Parallel()
	f := webtest.Setup(t, storetest.Dialects()[0])
	r := putMap(f, t, "application/yaml", webtest.ExampleMap(t))
	require.Equal(t, http.StatusOK, r.status)
	tests := []struct {
		path   string
		status int
		code   string
		field  string
	}{
		{"/api/v1/journey/versions/1", 200, "", ""},
		{"/api/v1/journey/versions/2", 404, "not_found", "n"},
		{"/api/v1/journey/versions/0", 400, "invalid_parameter", "n"},
		{"/api/v1/journey/versions/one", 400, "invalid_parameter", "n"},
		{"/api/v1/journey/versions/-1", 400, "invalid_parameter", "n"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := callJourney(f, t, journeyCall{method: "GET", path: tt.path})
			require.Equal(t, tt.status, r.status, string(r.raw))
			if tt.code != "" {
				code, field := webtest.ErrorOf(t, r.json)
				require.Equal(t, tt.code, code)
				require.Equal(t, tt.field, field)
			}
		})
	}
	r = callJourney(f, t, journeyCall{method: "GET", path: "/api/v1/journey/versions/1", noKey: true})
	require.Equal(t, http.StatusUnauthorized, r.status)
}

// TestMomentsRankedByImportance checks GET /api/v1/moments against the
// example: every moment once, most important first.
func TestMomentsRankedByImportance(t *testing.T) {
	t.Parallel()
	example := webtest.ExampleMap(t)
	m, diags := journey.Parse("example.yaml", example)
	require.Empty(t, diags)
	f := webtest.Setup(t, storetest.Dialects()[0])
	require.Equal(t, http.StatusOK, putMap(f, t, "application/yaml", example).status)

	r := callJourney(f, t, journeyCall{method: "GET", path: "/api/v1/moments"})
	require.Equal(t, http.StatusOK, r.status, string(r.raw))
	require.Equal(t, 1.0, r.json["version"])
	list := r.json["moments"].([]any)
	require.Len(t, list, len(m.Moments))

	stageOrder := map[string]int{}
	for i, s := range m.Stages {
		stageOrder[s.ID] = i
	}
	seen := map[string]bool{}
	for i, item := range list {
		mo := item.(map[string]any)
		require.Equal(t, float64(i+1), mo["rank"])
		id := mo["id"].(string)
		require.False(t, seen[id], "%s listed twice", id)
		seen[id] = true
		axes := mo["importance"].(map[string]any)
		sum := axes["revenue"].(float64) + axes["relationship"].(float64) + axes["rescue"].(float64) + axes["retention"].(float64)
		require.Equal(t, sum, mo["importance_score"], id)
		if i == 0 {
			continue
		}
		prev := list[i-1].(map[string]any)
		ps, s := prev["importance_score"].(float64), mo["importance_score"].(float64)
		require.GreaterOrEqual(t, ps, s, "%s ranks after %s", id, prev["id"])
		if ps == s {
			require.LessOrEqual(t, stageOrder[prev["stage"].(string)], stageOrder[mo["stage"].(string)], "ties go by stage order")
		}
	}
	// The two most important moments of the example score 18: sponsor
	// change and low NPS, both in delivering, so by id.
	require.Equal(t, "low_nps", list[0].(map[string]any)["id"])
	require.Equal(t, "sponsor_change", list[1].(map[string]any)["id"])
	require.Equal(t, map[string]any{
		"rank": 3.0, "id": "renewal_90", "name": "Renewal −90 days", "stage": "growing", "owner": "customer_success",
		"supporters": []any{"sales"}, "importance": map[string]any{"revenue": 5.0, "relationship": 4.0, "rescue": 3.0, "retention": 5.0},
		"importance_score": 17.0, "trigger_category": "scheduled", "sla": "15bd",
	}, list[2])
	last := list[len(list)-1].(map[string]any)
	require.Equal(t, "trial_started", last["id"], "the least important moment comes last")
	require.Equal(t, []any{"sales", "product"}, last["supporters"])

	r = callJourney(f, t, journeyCall{method: "GET", path: "/api/v1/moments", noKey: true})
	require.Equal(t, http.StatusUnauthorized, r.status)
}
