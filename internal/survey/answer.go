package survey

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/moments-cs/moments/internal/journey"
	"github.com/moments-cs/moments/internal/store"
	"github.com/moments-cs/moments/internal/vocab"
)

// MaxCommentBytes bounds a comment.
const MaxCommentBytes = 4000

// Form is a decoded answer: the score (nil when none was chosen), the
// comment and, when the page sent it, the survey the page was for.
type Form struct {
	Score   *int
	Comment string
	Survey  string
}

// DecodeForm decodes the answer page's form fields score, comment and
// survey. A score that is not a whole number, a comment longer than
// MaxCommentBytes or not UTF-8, or a field given twice is a *FieldError
// naming the field. The scale is checked against the survey later.
func DecodeForm(v url.Values) (Form, error) {
	var f Form
	for _, k := range []string{"score", "comment", "survey"} {
		if len(v[k]) > 1 {
			return f, &FieldError{Field: k, Message: k + " was given more than once"}
		}
	}
	if s := strings.TrimSpace(v.Get("score")); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || len(s) > 3 {
			return f, &FieldError{Field: "score", Message: "score must be a whole number on the survey's scale"}
		}
		f.Score = &n
	}
	c := strings.TrimSpace(v.Get("comment"))
	if !utf8.ValidString(c) {
		return f, &FieldError{Field: "comment", Message: "comment is not readable text (UTF-8)"}
	}
	if len(c) > MaxCommentBytes {
		return f, &FieldError{Field: "comment", Message: fmt.Sprintf("comment is longer than %d characters; please shorten it", MaxCommentBytes)}
	}
	f.Comment = strings.ReplaceAll(c, "\x00", "")
	f.Survey = strings.TrimSpace(v.Get("survey"))
	return f, nil
}

// Page is what the answer page shows for one link.
type Page struct {
	Send   store.SurveySend
	Survey journey.Survey
	Texts  Texts
	Scale  Scale
	// Kept is set when a score was submitted that differs from the one
	// already recorded, which was kept.
	Kept bool
}

// Open reads the survey behind a token for the answer page and, with a
// score (a one-click link from the email), records it if none is recorded
// yet. The answer's event waits for the comment (Submit) or the comment
// window. ErrUnknownLink and ErrExpiredLink refuse the link with no
// change.
func (s *Service) Open(ctx context.Context, token string, score *int) (Page, error) {
	p, err := s.page(ctx, token, "")
	if err != nil || score == nil {
		return p, err
	}
	if !p.Scale.Contains(*score) {
		return p, s.scaleError(p)
	}
	return s.record(ctx, p, score, "", false)
}

// Submit records the answer page's form: the score if none is recorded
// yet, and the comment. It ingests the answer's "Survey Responded" event
// if it was not yet.
func (s *Service) Submit(ctx context.Context, token string, f Form) (Page, error) {
	p, err := s.page(ctx, token, f.Survey)
	if err != nil {
		return p, err
	}
	if f.Score != nil && !p.Scale.Contains(*f.Score) {
		return p, s.scaleError(p)
	}
	if f.Score == nil && p.Send.Score == nil {
		return p, &FieldError{Field: "score", Message: "choose a score before sending your answer"}
	}
	return s.record(ctx, p, f.Score, f.Comment, true)
}

func (s *Service) scaleError(p Page) error {
	return &FieldError{Field: "score", Message: fmt.Sprintf("score must be a whole number from %d to %d", p.Scale.Low, p.Scale.High)}
}

func (s *Service) record(ctx context.Context, p Page, score *int, comment string, final bool) (Page, error) {
	prev := p.Send.Score
	x, err := s.st.RecordSurveyAnswer(ctx, p.Send.ID, score, comment, s.now())
	if err != nil {
		return p, err
	}
	p.Send = x
	p.Kept = prev != nil && score != nil && *prev != *score
	if final && x.EventAt == nil {
		if err := s.emit(ctx, x); err != nil {
			return p, err
		}
	}
	return p, nil
}

// page finds and checks the send behind a token. survey, when set, must
// be the send's survey: a page for one survey cannot answer another.
func (s *Service) page(ctx context.Context, token, survey string) (Page, error) {
	var p Page
	if !wellFormed(token) {
		return p, ErrUnknownLink
	}
	x, err := s.st.SurveySendByToken(ctx, HashToken(token))
	if errors.Is(err, store.ErrNotFound) {
		return p, ErrUnknownLink
	}
	if err != nil {
		return p, err
	}
	if survey != "" && survey != x.SurveyID {
		return p, ErrUnknownLink
	}
	p.Send = x
	switch {
	case x.Status == store.SurveyWithdrawn:
		return p, fmt.Errorf("%w: it was replaced by a newer survey", ErrExpiredLink)
	case x.Status != store.SurveySent && x.Status != store.SurveyPending:
		// Pending: the email is on its way and its sender has not yet
		// recorded it sent; whoever holds the token got it from that
		// email (a fast reader, or a mail scanner opening links).
		return p, ErrUnknownLink
	case x.ExpiresAt != nil && !s.now().Before(*x.ExpiresAt):
		return p, ErrExpiredLink
	}
	var m *journey.Map
	if x.MapVersion > 0 {
		m, err = s.journey.Version(ctx, x.MapVersion)
	} else {
		m, _, err = s.journey.Get(ctx)
	}
	if err != nil {
		return p, err
	}
	p.Survey, err = findSurvey(m, x.SurveyID)
	if err != nil {
		// A survey of a map version that no longer has it still needs
		// its words; the kind is on the send.
		p.Survey = journey.Survey{ID: x.SurveyID, Kind: x.Kind, Question: "How would you rate us?"}
	}
	p.Texts = TextsFor(p.Survey, x.Language)
	p.Scale, _ = ScaleOf(x.Kind)
	return p, nil
}

// answerEvent is the "Survey Responded" track event of an answer.
func answerEvent(x store.SurveySend) (store.Message, error) {
	props := map[string]any{"kind": x.Kind, "score": *x.Score, "survey": x.SurveyID, "moment": x.MomentID,
		"comment": x.Comment, "email": x.Email, "survey_send_id": x.ID, "source": "moments"}
	if x.RunID != "" {
		props["run_id"] = x.RunID
	}
	p, err := json.Marshal(props)
	if err != nil {
		return store.Message{}, err
	}
	c, _ := json.Marshal(map[string]any{"groupId": x.AccountID})
	return store.Message{Type: "track", MessageID: "survey-answer-" + x.ID, UserID: x.ContactID, GroupID: x.AccountID,
		Name: vocab.EventSurveyResponded, Properties: p, Context: c, Timestamp: *x.AnsweredAt,
		OriginalTimestamp: *x.AnsweredAt}, nil
}

// emit ingests the answer's event through the store's ingestion path, the
// same as the tracking API's; its message id makes a repeat a duplicate.
func (s *Service) emit(ctx context.Context, x store.SurveySend) error {
	if x.Score == nil || x.AnsweredAt == nil {
		return nil
	}
	msg, err := answerEvent(x)
	if err != nil {
		return err
	}
	msg.ReceivedAt = s.now()
	if _, err := s.st.Ingest(ctx, store.SystemWriteKey, []store.Message{msg}); err != nil {
		return fmt.Errorf("record the survey answer as an event: %w", err)
	}
	return s.st.MarkSurveyEvent(ctx, x.ID, s.now())
}
