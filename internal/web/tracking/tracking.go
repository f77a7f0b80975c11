// Package tracking is Moments' Segment-compatible tracking API (/v1/identify,
// /v1/track, /v1/page, /v1/screen, /v1/group, /v1/alias, /v1/batch and
// /v1/import): it authenticates the write key, decodes the messages and
// answers 200 only once they are durably stored.
package tracking

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/moments-cs/moments/internal/auth"
	"github.com/moments-cs/moments/internal/ingest"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/web"
)

// Server answers the tracking API.
type Server struct {
	store   *store.Store
	keys    *auth.Keys
	metrics *web.Metrics
	now     func() time.Time
	errors  web.Adapter
}

// New returns the tracking API over o.Store, accepting write keys from
// o.Keys and counting ingested messages in m. Logger and Now must be set.
func New(o web.Options, m *web.Metrics) *Server {
	return &Server{store: o.Store, keys: o.Keys, metrics: m, now: o.Now, errors: web.JSONAdapter(o.Logger)}
}

// Routes registers the tracking API's routes.
func (s *Server) Routes(rt *web.Router) {
	for _, typ := range []string{"identify", "track", "page", "screen", "group", "alias"} {
		rt.Handle("POST /v1/"+typ, s.errors.Handle(s.call(typ)))
	}
	rt.Handle("POST /v1/batch", s.errors.Handle(s.batch))
	rt.Handle("POST /v1/import", s.errors.Handle(s.batch))
}

// readBody reads at most limit bytes of the (possibly gzipped) body; a
// larger body is refused before it is all read.
func readBody(r *http.Request, limit int) ([]byte, error) {
	var src io.Reader = http.MaxBytesReader(nil, r.Body, int64(limit)*4+1024)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, web.BadRequest("invalid_body", "", "the body says Content-Encoding: gzip but is not gzip data")
		}
		defer zr.Close()
		src = zr
	}
	body, err := io.ReadAll(io.LimitReader(src, int64(limit)+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, web.BadRequest("too_large", "", fmt.Sprintf("the request may be at most %d bytes", limit))
		}
		return nil, web.BadRequest("invalid_body", "", "could not read the request body: "+err.Error())
	}
	if len(body) > limit {
		return nil, web.BadRequest("too_large", "", fmt.Sprintf("the request may be at most %d bytes", limit))
	}
	return body, nil
}

// call answers one of the single-message endpoints (/v1/identify, ...).
func (s *Server) call(typ string) web.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		return s.ingest(w, r, ingest.MaxMessageBytes, func(body []byte, at time.Time) (ingest.Decoded, *ingest.Error) {
			return ingest.DecodeCall(body, typ, at)
		})
	}
}

// batch answers /v1/batch and /v1/import.
func (s *Server) batch(w http.ResponseWriter, r *http.Request) error {
	return s.ingest(w, r, ingest.MaxBatchBytes, ingest.DecodeBatch)
}

// ingest is the tracking API's one path: authenticate with the write key
// (HTTP Basic username, or writeKey in the body as Segment allows), decode,
// commit, and only then answer 200.
//
// The batch rule: a body that is not a batch (too large, not JSON, too many
// messages) is refused whole and nothing is stored. Within a well-formed
// batch, every valid message is stored and every invalid one is refused;
// when any was refused the answer is 400 naming the first bad field, with
// "stored", "duplicates" and every refused message listed in "rejected".
// Resending the same batch stores nothing twice (messageIds deduplicate).
func (s *Server) ingest(w http.ResponseWriter, r *http.Request, limit int, decode func([]byte, time.Time) (ingest.Decoded, *ingest.Error)) error {
	received := s.now()
	start := time.Now()
	secret, _, hasBasic := r.BasicAuth()
	var key store.APIKey
	if hasBasic {
		k, err := s.keys.Check(r.Context(), secret, auth.ScopeWrite)
		if err != nil {
			return refuseKey(err)
		}
		key = k
	}
	body, aerr := readBody(r, limit)
	if aerr != nil {
		if !hasBasic {
			return refuseKey(auth.ErrInvalidKey)
		}
		return aerr
	}
	d, derr := decode(body, received)
	if !hasBasic {
		bodyKey := d.WriteKey
		if bodyKey == "" {
			return refuseKey(errors.New("no write key"))
		}
		k, err := s.keys.Check(r.Context(), bodyKey, auth.ScopeWrite)
		if err != nil {
			return refuseKey(err)
		}
		key = k
	}
	if derr != nil {
		s.metrics.Events.WithLabelValues("rejected").Inc()
		return web.BadRequest(derr.Code, derr.Field, derr.Message)
	}
	res, err := s.store.Ingest(r.Context(), key.ID, d.Messages)
	if err != nil {
		if errors.Is(err, store.ErrClosed) {
			return &web.Error{Status: http.StatusServiceUnavailable, Code: "shutting_down",
				Message: "the server is shutting down; retry shortly"}
		}
		return fmt.Errorf("ingest: %w", err)
	}
	s.metrics.Ingest.Observe(time.Since(start).Seconds())
	s.metrics.Events.WithLabelValues("stored").Add(float64(res.Stored))
	s.metrics.Events.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	if len(d.Rejected) > 0 {
		s.metrics.Events.WithLabelValues("rejected").Add(float64(len(d.Rejected)))
		first := d.Rejected[0]
		return web.BadRequest(first.Code, first.Field,
			fmt.Sprintf("%d of %d messages were refused (the first: %s); the other %d were stored — fix or drop the refused ones",
				len(d.Rejected), len(d.Rejected)+len(d.Messages), first.Message, len(d.Messages))).
			WithExtra(map[string]any{"stored": res.Stored, "duplicates": res.Duplicates, "rejected": d.Rejected})
	}
	web.WriteJSON(w, http.StatusOK, map[string]any{"success": true})
	return nil
}

// refuseKey explains why a request's write key was not accepted.
func refuseKey(err error) error {
	msg := "send a write key as the HTTP Basic username (or as writeKey in the body); create one with `moments keys create --scope write`"
	if !errors.Is(err, auth.ErrInvalidKey) && err.Error() != "no write key" {
		msg = err.Error()
	} else if errors.Is(err, auth.ErrInvalidKey) {
		msg = "the write key is not valid or was revoked; " + msg
	}
	return web.Unauthorized(msg)
}
