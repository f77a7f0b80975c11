package demo

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestParseSurveyEmail(t *testing.T) {
	t.Parallel()
	raw := "Subject: How was it?\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n" +
		" 1: http://127.0.0.1:8080/s/AbC_d-123?score=3D1\r\n 2: http://127.0.0.1:8080/s/AbC_=\r\nd-123?score=3D2\r\n" +
		" 3: http://127.0.0.1:8080/s/AbC_d-123?score=3D3\r\n"
	e, ok := parseSurveyEmail([]byte(raw))
	require.True(t, ok)
	require.Equal(t, surveyEmail{Link: "http://127.0.0.1:8080/s/AbC_d-123", Low: 1, High: 3}, e)
	_, ok = parseSurveyEmail([]byte("Subject: Welcome\r\n\r\nHello"))
	require.False(t, ok)
}

// TestAnswerSurveys answers every survey (rate 1) through the page: a
// one-click score, sometimes followed by a comment.
func TestAnswerSurveys(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var gets, posts []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == http.MethodPost {
			require.NoError(t, r.ParseForm())
			posts = append(posts, r.URL.Path+" "+r.PostForm.Get("comment"))
			return
		}
		gets = append(gets, r.URL.String())
	}))
	defer srv.Close()
	s := &Sinks{surveys: make(chan surveyEmail, 10)}
	for range 10 {
		s.surveys <- surveyEmail{Link: srv.URL + "/s/tok", Low: 0, High: 10}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.AnswerSurveys(ctx, AnswerOptions{Rate: 1, Every: time.Millisecond, Seed: 7})
	}()
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(gets) == 10 }, 5*time.Second, 5*time.Millisecond)
	cancel()
	<-done
	for _, g := range gets {
		require.True(t, strings.HasPrefix(g, "/s/tok?score="), g)
	}
	require.NotEmpty(t, posts, "some add a comment")
}
