package survey

import (
	"net/url"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/require"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
)

func TestDecodeForm(t *testing.T) {
	t.Parallel()
	seven := 7
	tests := []struct {
		name  string
		form  string
		want  Form
		field string
	}{
		{"score and comment", "score=7&comment=Fast+and+friendly&survey=nps", Form{Score: &seven, Comment: "Fast and friendly", Survey: "nps"}, ""},
		{"comment only", "comment=+more+", Form{Comment: "more"}, ""},
		{"empty", "", Form{}, ""},
		{"score not a number", "score=seven", Form{}, "score"},
		{"score too long", "score=00007", Form{}, "score"},
		{"score twice", "score=1&score=2", Form{}, "score"},
		{"comment too long", "comment=" + strings.Repeat("a", MaxCommentBytes+1), Form{}, "comment"},
		{"comment not UTF-8", "comment=%ff%fe", Form{}, "comment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			v, err := url.ParseQuery(tt.form)
			require.NoError(t, err)
			got, err := DecodeForm(v)
			if tt.field != "" {
				var fe *FieldError
				require.ErrorAs(t, err, &fe)
				require.Equal(t, tt.field, fe.Field)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// FuzzDecodeForm feeds the answer form decoder any body: it never panics,
// and what it accepts is a bounded, readable comment and a short score.
func FuzzDecodeForm(f *testing.F) {
	for _, s := range []string{"score=7&comment=hi", "score=-1", "score=1&score=2", "comment=%ff", "survey=nps&score=10", "score=%00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		v, err := url.ParseQuery(body)
		if err != nil {
			return
		}
		got, err := DecodeForm(v)
		if err != nil {
			var fe *FieldError
			require.ErrorAs(t, err, &fe)
			require.NotEmpty(t, fe.Field)
			return
		}
		require.True(t, utf8.ValidString(got.Comment))
		require.LessOrEqual(t, len(got.Comment), MaxCommentBytes)
		require.NotContains(t, got.Comment, "\x00")
		if got.Score != nil {
			require.True(t, *got.Score > -100 && *got.Score < 1000)
		}
	})
}

func TestTextsFor(t *testing.T) {
	t.Parallel()
	s := journey.Survey{ID: "nps", Kind: "nps", Question: "Would you recommend us?", Translations: []journey.SurveyTranslation{
		{Language: "de", Question: "Würden Sie uns empfehlen?", FollowUp: "Warum?"},
		{Language: "pt-BR", Question: "Você nos recomendaria?"},
	}}
	require.Equal(t, Texts{Question: "Would you recommend us?", FollowUp: "What is the main reason for your score?"}, TextsFor(s, ""))
	require.Equal(t, Texts{Language: "de", Question: "Würden Sie uns empfehlen?", FollowUp: "Warum?"}, TextsFor(s, "de-AT"))
	require.Equal(t, "Você nos recomendaria?", TextsFor(s, "pt-br").Question)
	require.Equal(t, "What is the main reason for your score?", TextsFor(s, "pt").FollowUp)
	require.Equal(t, "Would you recommend us?", TextsFor(s, "fr").Question)
}

func TestTokens(t *testing.T) {
	t.Parallel()
	a, ha, err := NewToken()
	require.NoError(t, err)
	b, _, err := NewToken()
	require.NoError(t, err)
	require.NotEqual(t, a, b)
	require.Len(t, a, 32, "192 bits in base64url")
	require.True(t, wellFormed(a))
	require.Equal(t, ha, HashToken(a))
	require.False(t, wellFormed(a[:31]))
	require.False(t, wellFormed(strings.Repeat("!", 32)))
}

func TestResponseOf(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	at := func(daysAgo int) *time.Time { t := now.AddDate(0, 0, -daysAgo); return &t }
	five := 5
	sends := []store.SurveySend{ // newest first
		{Status: store.SurveySent, SentAt: at(1)},                // too recent to count
		{Status: store.SurveySent, SentAt: at(10)},               // unanswered
		{Status: store.SurveySkipped},                            // never sent
		{Status: store.SurveySent, SentAt: at(40), Score: &five}, // answered
		{Status: store.SurveySent, SentAt: at(80)},               // unanswered
		{Status: store.SurveySent, SentAt: at(120), Score: &five},
	}
	r := responseOf(sends, now)
	require.Equal(t, Response{Sent: 4, Answered: 2, Rate: 0.5, LastUnanswered: 2, LastN: 3,
		Explanation: "2 of the last 3 surveys unanswered"}, r)
	require.Equal(t, "no survey sent in the last year", responseOf(nil, now).Explanation)
}
