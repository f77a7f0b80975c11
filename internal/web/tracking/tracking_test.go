package tracking_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/store/storetest"
	"github.com/moments-cs/moments/internal/web/webtest"
)

func TestTrackingRejectsBadInput(t *testing.T) {
	t.Parallel()
	big := `{"userId":"u","event":"X","properties":{"pad":"` + strings.Repeat("x", 33<<10) + `"}}`
	var many strings.Builder
	many.WriteString(`{"batch":[`)
	for i := 0; i < 2501; i++ {
		if i > 0 {
			many.WriteByte(',')
		}
		many.WriteString(`{"type":"track","userId":"u","event":"X"}`)
	}
	many.WriteString(`]}`)
	hugeBatch := `{"batch":[{"type":"track","userId":"u","event":"X","properties":{"pad":"` + strings.Repeat("x", 510<<10) + `"}}]}`
	long := strings.Repeat("m", 100)
	cases := []struct {
		name, path, body string
		code, field      string
	}{
		{"malformed json", "/v1/track", `{"userId":`, "invalid_json", ""},
		{"not an object", "/v1/track", `[1,2]`, "invalid_json", ""},
		{"empty body", "/v1/track", ``, "invalid_json", ""},
		{"no user", "/v1/track", `{"event":"X"}`, "missing_field", "userId"},
		{"no event name", "/v1/track", `{"userId":"u"}`, "missing_field", "event"},
		{"group without groupId", "/v1/group", `{"userId":"u"}`, "missing_field", "groupId"},
		{"type contradicts endpoint", "/v1/track", `{"type":"identify","userId":"u"}`, "invalid_message", "type"},
		{"message over 32 KB", "/v1/track", big, "too_large", ""},
		{"messageId of 100 characters", "/v1/track", `{"userId":"u","event":"X","messageId":"` + long + `"}`, "invalid_message", "messageId"},
		{"bad timestamp", "/v1/track", `{"userId":"u","event":"X","timestamp":"yesterday"}`, "invalid_message", "timestamp"},
		{"properties not an object", "/v1/track", `{"userId":"u","event":"X","properties":[1]}`, "invalid_message", "properties"},
		{"userId an object", "/v1/track", `{"userId":{"a":1},"event":"X"}`, "invalid_message", "userId"},
		{"batch without batch", "/v1/batch", `{"messages":[]}`, "missing_field", "batch"},
		{"batch over 2,500 messages", "/v1/batch", many.String(), "too_large", "batch"},
		{"batch over 500 KB", "/v1/batch", hugeBatch, "too_large", ""},
		{"unknown type in batch", "/v1/batch", `{"batch":[{"type":"purchase","userId":"u"}]}`, "unknown_type", "batch[0].type"},
		{"missing type in batch", "/v1/batch", `{"batch":[{"userId":"u"}]}`, "missing_field", "batch[0].type"},
	}
	for _, d := range storetest.Dialects() {
		f := webtest.Setup(t, d)
		for _, c := range cases {
			t.Run(string(d)+"/"+c.name, func(t *testing.T) {
				status, body := f.Post(t, c.path, c.body)
				require.Equal(t, http.StatusBadRequest, status, body)
				code, field := webtest.ErrorOf(t, body)
				require.Equal(t, c.code, code)
				require.Equal(t, c.field, field)
			})
		}
		n, err := f.Store.CountEvents(context.Background())
		require.NoError(t, err)
		require.Zero(t, n, "no bad request stored anything")
	}
}

func TestTrackingRequiresWriteKey(t *testing.T) {
	t.Parallel()
	f := webtest.Setup(t, store.SQLite)
	body := `{"userId":"u","event":"X"}`
	for name, set := range map[string]func(r *http.Request){
		"no key":        func(r *http.Request) {},
		"wrong key":     func(r *http.Request) { r.SetBasicAuth("mkw_nope", "") },
		"wrong in body": nil,
	} {
		t.Run(name, func(t *testing.T) {
			b := body
			if set == nil {
				b = `{"userId":"u","event":"X","writeKey":"mkw_wrong"}`
				set = func(r *http.Request) {}
			}
			req, _ := http.NewRequest("POST", f.URL+"/v1/track", strings.NewReader(b))
			set(req)
			status, resp := webtest.Do(t, req)
			require.Equal(t, http.StatusUnauthorized, status)
			code, _ := webtest.ErrorOf(t, resp)
			require.Equal(t, "unauthorized", code)
		})
	}
	n, err := f.Store.CountEvents(context.Background())
	require.NoError(t, err)
	require.Zero(t, n)

	t.Run("key in body", func(t *testing.T) {
		req, _ := http.NewRequest("POST", f.URL+"/v1/track", strings.NewReader(`{"userId":"u","event":"X","writeKey":"`+f.WriteKey+`"}`))
		status, _ := webtest.Do(t, req)
		require.Equal(t, http.StatusOK, status)
	})
	t.Run("admin key is not accepted on REST without bearer", func(t *testing.T) {
		req, _ := http.NewRequest("GET", f.URL+"/api/v1/accounts", nil)
		status, _ := webtest.Do(t, req)
		require.Equal(t, http.StatusUnauthorized, status)
	})
	t.Run("write key cannot read the REST API", func(t *testing.T) {
		req, _ := http.NewRequest("GET", f.URL+"/api/v1/accounts", nil)
		req.Header.Set("Authorization", "Bearer "+f.WriteKey)
		status, _ := webtest.Do(t, req)
		require.Equal(t, http.StatusUnauthorized, status)
	})
}

func TestBatchStoresValidMessagesAndNamesTheRest(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects() {
		f := webtest.Setup(t, d)
		batch := `{"batch":[
			{"type":"track","userId":"u1","event":"Login","messageId":"a"},
			{"type":"track","event":"Login","messageId":"b"},
			{"type":"track","userId":"u1","event":"Report Created","messageId":"c"},
			{"type":"bogus","userId":"u1","messageId":"d"}]}`
		status, body := f.Post(t, "/v1/batch", batch)
		require.Equal(t, http.StatusBadRequest, status)
		code, field := webtest.ErrorOf(t, body)
		require.Equal(t, "missing_field", code)
		require.Equal(t, "batch[1].userId", field)
		require.EqualValues(t, 2, body["stored"])
		require.Len(t, body["rejected"], 2)

		// The SDK retries the same batch: nothing is stored twice.
		status, body = f.Post(t, "/v1/batch", batch)
		require.Equal(t, http.StatusBadRequest, status)
		require.EqualValues(t, 0, body["stored"])
		require.EqualValues(t, 2, body["duplicates"])
		n, err := f.Store.CountEvents(context.Background())
		require.NoError(t, err)
		require.EqualValues(t, 2, n)
	}
}

func TestBatchEnvelopeAndClockSkew(t *testing.T) {
	t.Parallel()
	f := webtest.Setup(t, store.SQLite)
	// The device clock is 1 hour fast: it says it sent at 13:00 an event of
	// 12:59; the server receives it now. The event happened a minute before
	// it was received, whatever the device's clock said.
	batch := `{"sentAt":"2026-01-01T13:00:00Z","context":{"library":{"name":"test"},"groupId":"acme"},"integrations":{"All":true},
		"batch":[{"type":"track","userId":"u","event":"X","messageId":"m1","originalTimestamp":"2026-01-01T12:59:00Z"},
		         {"type":"track","userId":"u","event":"Y","context":{"ip":"1.2.3.4"}}]}`
	status, body := f.Post(t, "/v1/batch", batch)
	require.Equal(t, http.StatusOK, status, body)
	evs, _, err := f.Store.ListEvents(context.Background(), store.EventFilter{}, store.Page{})
	require.NoError(t, err)
	require.Len(t, evs, 2)
	y, x := evs[0], evs[1]
	require.Equal(t, "acme", x.AccountID, "the envelope's context.groupId applies to each message")
	require.Equal(t, "acme", y.AccountID)
	require.JSONEq(t, `{"library":{"name":"test"},"groupId":"acme","ip":"1.2.3.4"}`, string(y.Context), "the message's context keys join the envelope's")
	require.JSONEq(t, `{"All":true}`, string(x.Integrations))
	require.NotEmpty(t, y.MessageID, "a message without messageId is given one")
	require.Equal(t, "2026-01-01T13:00:00Z", x.SentAt.Format("2006-01-02T15:04:05Z07:00"), "the envelope's sentAt applies")
	require.InDelta(t, 60, x.ReceivedAt.Sub(x.Timestamp).Seconds(), 0.001, "timestamp = receivedAt − (sentAt − originalTimestamp)")
}

func TestTrackingAcceptsGzip(t *testing.T) {
	t.Parallel()
	f := webtest.Setup(t, store.SQLite)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	fmt.Fprint(zw, `{"batch":[{"type":"track","userId":"u","event":"Zipped"}]}`)
	zw.Close()
	req, _ := http.NewRequest("POST", f.URL+"/v1/batch", &buf)
	req.SetBasicAuth(f.WriteKey, "")
	req.Header.Set("Content-Encoding", "gzip")
	status, body := webtest.Do(t, req)
	require.Equal(t, http.StatusOK, status, body)
}
