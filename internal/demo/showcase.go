package demo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Showcase is what the demo starts by hand after the history, so that the
// two trigger categories no event can start have runs too: a CSM starts a
// moment for one account (csm), and the vendor broadcasts a release to a
// segment (vendor).
type Showcase struct {
	// CSMAccount and CSMMoment are the account and moment a CSM started.
	CSMAccount, CSMMoment string
	// CSMStarted says whether the server started it; CSMNote says why not.
	CSMStarted bool
	CSMNote    string
	// BroadcastMoment is the vendor moment broadcast; BroadcastReached is
	// how many accounts it reached (as the server reported).
	BroadcastMoment  string
	BroadcastID      string
	BroadcastReached int
	BroadcastNote    string
}

// The example map's hand-started moments.
const (
	csmMoment       = "proposal_sent"
	broadcastMoment = "release_readiness"
)

// RunShowcase starts one CSM moment and one broadcast through the REST API
// (with an admin key). A server without the trigger engine, or a map
// without those moments, is not an error: the notes say what happened.
func RunShowcase(ctx context.Context, t Target, adminKey string, r *Result) (Showcase, error) {
	var sc Showcase
	api := apiClient{t: t, key: adminKey}
	if api.t.Client == nil {
		api.t.Client = &http.Client{Timeout: 60 * time.Second}
	}
	// A CSM prepares an expansion proposal for a happy, growing customer.
	sc.CSMMoment = csmMoment
	for _, h := range r.Histories {
		if h.Account.Persona == Adopter && h.Churned.IsZero() && h.Account.Segment == SegmentMidMarket {
			sc.CSMAccount = h.Account.ID
			break
		}
	}
	if sc.CSMAccount == "" {
		for _, h := range r.Histories {
			if h.Churned.IsZero() {
				sc.CSMAccount = h.Account.ID
				break
			}
		}
	}
	if sc.CSMAccount != "" {
		owner := r.Company.Accounts[accountIndex(sc.CSMAccount)].Owner
		status, body, err := api.do(ctx, http.MethodPost,
			"/api/v1/accounts/"+url.PathEscape(sc.CSMAccount)+"/moments/"+csmMoment+"/start",
			map[string]any{"note": "Expansion proposal: the team has outgrown its seats", "started_by": owner},
			"demo-csm-"+sc.CSMAccount)
		if err != nil {
			return sc, err
		}
		switch status {
		case http.StatusCreated, http.StatusOK:
			sc.CSMStarted = true
		default:
			sc.CSMNote = apiNote(status, body)
		}
	}
	sc.BroadcastMoment = broadcastMoment
	status, body, err := api.do(ctx, http.MethodPost, "/api/v1/broadcasts",
		map[string]any{"moment": broadcastMoment, "started_by": "product@northwind.example"}, "demo-broadcast-1")
	if err != nil {
		return sc, err
	}
	switch status {
	case http.StatusCreated, http.StatusOK:
		var b struct {
			ID      string `json:"id"`
			Status  string `json:"status"`
			Reached int    `json:"reached"`
		}
		_ = json.Unmarshal(body, &b)
		sc.BroadcastID, sc.BroadcastReached = b.ID, b.Reached
		// A broadcast runs in the background; wait a little for its count.
		for i := 0; i < 50 && b.Status != "done" && b.Status != "finished" && b.ID != ""; i++ {
			select {
			case <-ctx.Done():
				return sc, ctx.Err()
			case <-time.After(200 * time.Millisecond):
			}
			status, body, err := api.do(ctx, http.MethodGet, "/api/v1/broadcasts/"+url.PathEscape(b.ID), nil, "")
			if err != nil || status != http.StatusOK || json.Unmarshal(body, &b) != nil {
				break
			}
			sc.BroadcastReached = b.Reached
		}
	default:
		sc.BroadcastNote = apiNote(status, body)
	}
	return sc, nil
}

func accountIndex(id string) int {
	var n int
	fmt.Sscanf(strings.TrimPrefix(id, "acct_"), "%d", &n)
	return n - 1
}

// apiNote turns an API error answer into one line.
func apiNote(status int, body []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
		return fmt.Sprintf("%d: %s", status, e.Error.Message)
	}
	if status == http.StatusNotFound || status == http.StatusMethodNotAllowed {
		return "this server has no such endpoint yet"
	}
	return fmt.Sprintf("the server answered %d", status)
}

// apiClient calls the REST API with an admin key.
type apiClient struct {
	t   Target
	key string
}

func (c apiClient) do(ctx context.Context, method, path string, in any, idempotencyKey string) (int, []byte, error) {
	var rd io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return 0, nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.t.URL, "/")+path, rd)
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.key)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	res, err := c.t.Client.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	return res.StatusCode, b, err
}
