package web

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
)

// readBody reads at most limit bytes of the (possibly gzipped) body; a
// larger body is refused before it is all read.
func readBody(r *http.Request, limit int) ([]byte, *apiError) {
	var src io.Reader = http.MaxBytesReader(nil, r.Body, int64(limit)*4+1024)
	if r.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(src)
		if err != nil {
			return nil, badRequest("invalid_body", "", "the body says Content-Encoding: gzip but is not gzip data")
		}
		defer zr.Close()
		src = zr
	}
	body, err := io.ReadAll(io.LimitReader(src, int64(limit)+1))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, badRequest("too_large", "", fmt.Sprintf("the request may be at most %d bytes", limit))
		}
		return nil, badRequest("invalid_body", "", "could not read the request body: "+err.Error())
	}
	if len(body) > limit {
		return nil, badRequest("too_large", "", fmt.Sprintf("the request may be at most %d bytes", limit))
	}
	return body, nil
}

func (s *Server) trackingCall(typ string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.ingest(w, r, ingest.MaxMessageBytes, func(body []byte, at time.Time) (ingest.Decoded, *ingest.Error) {
			return ingest.DecodeCall(body, typ, at)
		})
	}
}

func (s *Server) trackingBatch(w http.ResponseWriter, r *http.Request) {
	s.ingest(w, r, ingest.MaxBatchBytes, ingest.DecodeBatch)
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
func (s *Server) ingest(w http.ResponseWriter, r *http.Request, limit int, decode func([]byte, time.Time) (ingest.Decoded, *ingest.Error)) {
	received := s.now()
	start := time.Now()
	secret, _, hasBasic := r.BasicAuth()
	var key store.APIKey
	if hasBasic {
		k, err := s.keys.Check(r.Context(), secret, auth.ScopeWrite)
		if err != nil {
			s.refuseKey(w, r, err)
			return
		}
		key = k
	}
	body, aerr := readBody(r, limit)
	if aerr != nil {
		if !hasBasic {
			s.refuseKey(w, r, auth.ErrInvalidKey)
			return
		}
		s.writeError(w, r, aerr, nil)
		return
	}
	d, derr := decode(body, received)
	if !hasBasic {
		bodyKey := d.WriteKey
		if bodyKey == "" {
			s.refuseKey(w, r, errors.New("no write key"))
			return
		}
		k, err := s.keys.Check(r.Context(), bodyKey, auth.ScopeWrite)
		if err != nil {
			s.refuseKey(w, r, err)
			return
		}
		key = k
	}
	if derr != nil {
		s.metrics.events.WithLabelValues("rejected").Inc()
		s.writeError(w, r, badRequest(derr.Code, derr.Field, derr.Message), nil)
		return
	}
	// A write key other than a server key may be public (browser SDKs):
	// the traits that steer email and rights are not taken from it.
	var ignored []string
	if !key.Server {
		ignored = ingest.StripProtectedTraits(d.Messages)
	}
	res, err := s.store.Ingest(r.Context(), key.ID, d.Messages)
	if err != nil {
		if errors.Is(err, store.ErrClosed) {
			s.writeError(w, r, &apiError{Status: http.StatusServiceUnavailable, Code: "shutting_down",
				Message: "the server is shutting down; retry shortly"}, nil)
			return
		}
		s.writeError(w, r, fmt.Errorf("ingest: %w", err), nil)
		return
	}
	s.metrics.ingest.Observe(time.Since(start).Seconds())
	s.metrics.events.WithLabelValues("stored").Add(float64(res.Stored))
	s.metrics.events.WithLabelValues("duplicate").Add(float64(res.Duplicates))
	if len(d.Rejected) > 0 {
		s.metrics.events.WithLabelValues("rejected").Add(float64(len(d.Rejected)))
		first := d.Rejected[0]
		s.writeError(w, r, badRequest(first.Code, first.Field,
			fmt.Sprintf("%d of %d messages were refused (the first: %s); the other %d were stored — fix or drop the refused ones",
				len(d.Rejected), len(d.Rejected)+len(d.Messages), first.Message, len(d.Messages))),
			map[string]any{"stored": res.Stored, "duplicates": res.Duplicates, "rejected": d.Rejected})
		return
	}
	if len(ignored) > 0 {
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "ignored_traits": ignored,
			"warning": "these traits are set only with a server write key (moments keys create --scope write --server), never from a browser"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true})
}

func (s *Server) refuseKey(w http.ResponseWriter, r *http.Request, err error) {
	msg := "send a write key as the HTTP Basic username (or as writeKey in the body); create one with `moments keys create --scope write`"
	if !errors.Is(err, auth.ErrInvalidKey) && err.Error() != "no write key" {
		msg = err.Error()
	} else if errors.Is(err, auth.ErrInvalidKey) {
		msg = "the write key is not valid or was revoked; " + msg
	}
	s.writeError(w, r, unauthorized(msg), nil)
}
