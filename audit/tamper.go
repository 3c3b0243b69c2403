package audit

import (
	"bytes"
	"fmt"
)

// TamperCase is one change to a closed audit file of at least six lines,
// with the problem Verify must report. The cases are exported for the
// end-to-end test of the audit verify command.
type TamperCase struct {
	Name  string
	Apply func(data []byte) ([]byte, error)
	// Kind and Line are the problem Verify must report.
	Kind string
	Line int
}

// TamperCases returns the tamper matrix: edit a byte, delete a line, swap
// two lines, truncate mid-line, cut whole records at the tail, delete the
// first record.
func TamperCases() []TamperCase {
	lines := func(data []byte) ([][]byte, error) {
		ls := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
		if len(ls) < 6 {
			return nil, fmt.Errorf("audit file has %d lines, want 6+", len(ls))
		}
		return ls, nil
	}
	join := func(ls [][]byte) []byte { return append(bytes.Join(ls, []byte("\n")), '\n') }
	return []TamperCase{
		{"edit byte", func(d []byte) ([]byte, error) {
			ls, err := lines(d)
			if err != nil {
				return nil, err
			}
			i := bytes.Index(ls[2], []byte(`"tool":"`))
			if i < 0 {
				return nil, fmt.Errorf("line 3 has no tool")
			}
			ls[2] = bytes.Clone(ls[2])
			ls[2][i+len(`"tool":"`)] ^= 0x01
			return join(ls), nil
		}, TamperEdited, 3},
		{"delete line", func(d []byte) ([]byte, error) {
			ls, err := lines(d)
			if err != nil {
				return nil, err
			}
			return join(append(ls[:3:3], ls[4:]...)), nil
		}, TamperDeleted, 4},
		{"swap lines", func(d []byte) ([]byte, error) {
			ls, err := lines(d)
			if err != nil {
				return nil, err
			}
			ls[2], ls[3] = ls[3], ls[2]
			return join(ls), nil
		}, TamperReordered, 4},
		{"truncate mid-line", func(d []byte) ([]byte, error) {
			return d[:len(d)-10], nil
		}, TamperTorn, 0},
		{"truncate whole records", func(d []byte) ([]byte, error) {
			ls, err := lines(d)
			if err != nil {
				return nil, err
			}
			return join(ls[:len(ls)-2]), nil
		}, TamperTail, 0},
		{"delete first record", func(d []byte) ([]byte, error) {
			ls, err := lines(d)
			if err != nil {
				return nil, err
			}
			return join(ls[1:]), nil
		}, TamperHead, 1},
	}
}
