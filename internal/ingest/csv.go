package ingest

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/moments-cs/moments/internal/store"
)

// RowError is a CSV row that could not be imported.
type RowError struct {
	Line    int
	Message string
}

func (e RowError) Error() string { return fmt.Sprintf("line %d: %s", e.Line, e.Message) }

// idColumns are the header names accepted for the account id, in order of
// preference (CRM exports name it differently).
var idColumns = []string{"id", "account_id", "group_id", "groupId"}

// MaxImportRows bounds one import so a wrong file cannot fill the disk.
const MaxImportRows = 1_000_000

// AccountsCSV reads a CRM export: a header row naming traits, one account
// per row, the account id in a column named id (or account_id, group_id,
// groupId). Cells become traits: empty cells are skipped (a blank cell does
// not erase a trait), plain decimal numbers without leading zeros become
// numbers (arr, seats), true/false become booleans, anything else stays
// text. Bad rows are returned with their line numbers; good rows become
// group messages.
func AccountsCSV(r io.Reader, at time.Time) ([]store.Message, []RowError, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = false
	header, err := cr.Read()
	if errors.Is(err, io.EOF) {
		return nil, nil, errors.New("the file is empty: the first row must name the columns")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read the header row: %w", err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(strings.TrimPrefix(header[i], "\ufeff"))
	}
	idCol := -1
	for _, name := range idColumns {
		for i, h := range header {
			if strings.EqualFold(h, name) {
				idCol = i
				break
			}
		}
		if idCol >= 0 {
			break
		}
	}
	if idCol < 0 {
		return nil, nil, fmt.Errorf("no account id column: name one of the columns %s", strings.Join(idColumns, ", "))
	}
	var (
		msgs []store.Message
		bad  []RowError
	)
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				bad = append(bad, RowError{Line: pe.Line, Message: pe.Err.Error()})
				continue
			}
			return nil, nil, err
		}
		// FieldPos only after a successful Read: after an error the record
		// has no fields and it panics (found by FuzzAccountsCSV).
		line, _ := cr.FieldPos(0)
		if len(msgs)+len(bad) >= MaxImportRows {
			return nil, nil, fmt.Errorf("the file has more than %d rows; split it", MaxImportRows)
		}
		if len(rec) != len(header) {
			bad = append(bad, RowError{Line: line, Message: fmt.Sprintf("has %d cells; the header has %d", len(rec), len(header))})
			continue
		}
		id := strings.TrimSpace(rec[idCol])
		if id == "" {
			bad = append(bad, RowError{Line: line, Message: fmt.Sprintf("the %s cell is empty", header[idCol])})
			continue
		}
		if len(id) > maxIDLen {
			bad = append(bad, RowError{Line: line, Message: "the account id is too long"})
			continue
		}
		if strings.ContainsAny(id, idForbidden) {
			bad = append(bad, RowError{Line: line, Message: "the account id may not contain / ? or #, which change the address of its page"})
			continue
		}
		traits := map[string]any{}
		for i, cell := range rec {
			if i == idCol || header[i] == "" {
				continue
			}
			cell = strings.TrimSpace(cell)
			if cell == "" {
				continue
			}
			traits[header[i]] = cellValue(cell)
		}
		if d, ok := traits["renewal_date"].(string); ok {
			if _, ok := store.ParseDate(d); !ok {
				bad = append(bad, RowError{Line: line, Message: fmt.Sprintf("renewal_date %q is not a date such as 2027-01-31", d)})
				continue
			}
		}
		msgs = append(msgs, store.Message{Type: "group", MessageID: "import-" + uuid.NewString(), GroupID: id,
			AnonymousID: "csv-import", Traits: traits, Timestamp: at, ReceivedAt: at})
	}
	return msgs, bad, nil
}

func cellValue(s string) any {
	switch strings.ToLower(s) {
	case "true":
		return true
	case "false":
		return false
	}
	if (len(s) == 1 || s[0] != '0' || strings.HasPrefix(s, "0.")) && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r == '.' || r == '-')
	}) < 0 {
		if f, err := strconv.ParseFloat(s, 64); err == nil {
			return f
		}
	}
	return s
}
