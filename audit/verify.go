package audit

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Tamper kinds a Problem can name.
const (
	TamperMalformed = "malformed" // a line is not a record: edited, or garbage
	TamperTorn      = "torn"      // the last line has no newline: a crash mid-write, or truncation
	TamperEdited    = "edited"    // a record's bytes changed (hash chain or HMAC mismatch)
	TamperDeleted   = "deleted"   // records are missing (sequence gap)
	TamperReordered = "reordered" // records are out of order or repeated
	TamperHead      = "head"      // the file does not start with its genesis record
	TamperTail      = "truncated" // the file does not end with a close record
	TamperSignature = "signature" // an HMAC is missing or wrong
	TamperLink      = "link"      // a rotation link to another file is broken
)

// Problem is one finding of Verify, naming the file and 1-based line.
type Problem struct {
	File string
	Line int
	Kind string
	Msg  string
}

func (p Problem) String() string {
	return fmt.Sprintf("%s:%d: %s: %s", p.File, p.Line, p.Kind, p.Msg)
}

// FileResult is what Verify learned about one file.
type FileResult struct {
	File     string
	Records  int
	Closed   bool   // ends with a close record
	First    Record // the genesis record, when the file starts with one
	Last     Record // the last readable record
	LastHash string // hex SHA-256 of the last complete line
	Signed   bool   // records carry HMACs
	Problems []Problem
}

// VerifyOptions tune Verify.
type VerifyOptions struct {
	// HMACKey checks every record's HMAC; nil checks only the chain.
	HMACKey []byte
	// AllowOpen accepts a file without a close record (a gateway still
	// running, or one that crashed) instead of reporting it truncated.
	AllowOpen bool
}

// maxLine bounds one record line.
const maxLine = 1 << 20

// Verify reads one audit file from r and checks its chain: every line a
// record, sequence numbers consecutive from the genesis, every prev the
// hash of the line before, every HMAC right (with a key), a newline after
// every line and a close record at the end.
func Verify(r io.Reader, name string, o VerifyOptions) FileResult {
	res := FileResult{File: name}
	add := func(line int, kind, format string, args ...any) {
		res.Problems = append(res.Problems, Problem{File: name, Line: line, Kind: kind, Msg: fmt.Sprintf(format, args...)})
	}
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		lineNo   int
		prevHash string
		expect   uint64
		haveLast bool
	)
	for {
		raw, err := br.ReadSlice('\n')
		full := raw
		if err == bufio.ErrBufferFull {
			// A line longer than the buffer: collect it up to maxLine.
			buf := append([]byte(nil), raw...)
			for err == bufio.ErrBufferFull && len(buf) <= maxLine {
				raw, err = br.ReadSlice('\n')
				buf = append(buf, raw...)
			}
			full = buf
			if len(buf) > maxLine {
				lineNo++
				add(lineNo, TamperMalformed, "line longer than %d bytes", maxLine)
				return res
			}
		}
		if len(full) == 0 && err != nil {
			break
		}
		lineNo++
		torn := full[len(full)-1] != '\n'
		line := bytes.TrimSuffix(full, []byte{'\n'})
		if torn {
			add(lineNo, TamperTorn, "last line has no newline (a crash mid-write, or the file was cut); it is not accepted")
			break
		}
		var rec Record
		if e := strictUnmarshal(line, &rec); e != nil {
			add(lineNo, TamperMalformed, "not a record (%v)", e)
			prevHash = HashBytes(line)
			expect++
			continue
		}
		if lineNo == 1 {
			if rec.Kind != KindGenesis || rec.Seq != 0 {
				add(lineNo, TamperHead, "first record is %s seq %d, not the genesis (records deleted at the head)", rec.Kind, rec.Seq)
			} else {
				res.First = rec
				if rec.File != "" && rec.File != filepath.Base(name) {
					add(lineNo, TamperLink, "genesis names file %q (file renamed or replaced)", rec.File)
				}
			}
			expect = rec.Seq
		} else if haveLast && res.Last.Kind == KindClose {
			add(lineNo, TamperReordered, "record after the close record")
		}
		switch {
		case lineNo == 1:
		case rec.Seq == expect:
			if rec.Prev != prevHash {
				add(lineNo-1, TamperEdited, "record seq %d was changed: the next record's prev hash does not match it", rec.Seq-1)
			}
		case rec.Seq > expect:
			add(lineNo, TamperDeleted, "records seq %d..%d are missing before seq %d (deleted or moved)", expect, rec.Seq-1, rec.Seq)
		default:
			add(lineNo, TamperReordered, "record seq %d after seq %d (records swapped, moved or repeated)", rec.Seq, expect-1)
		}
		if len(o.HMACKey) > 0 || rec.HMAC != "" {
			res.Signed = res.Signed || rec.HMAC != ""
			if len(o.HMACKey) > 0 {
				if msg := checkHMAC(line, rec.HMAC, o.HMACKey); msg != "" {
					add(lineNo, TamperSignature, "record seq %d: %s", rec.Seq, msg)
				}
			}
		}
		prevHash = HashBytes(line)
		expect = rec.Seq + 1
		res.Last, haveLast = rec, true
		res.Records++
		if err != nil {
			break
		}
	}
	res.LastHash = prevHash
	res.Closed = haveLast && res.Last.Kind == KindClose
	if lineNo == 0 {
		add(0, TamperHead, "empty file (no genesis record)")
	} else if !res.Closed && !o.AllowOpen {
		add(lineNo, TamperTail, "no close record after line %d: records were cut from the end, or the writer crashed or is still running", lineNo)
	} else if res.Closed && res.Last.Count != res.Last.Seq {
		add(lineNo, TamperDeleted, "close record counts %d records before it, the file has %d", res.Last.Count, res.Last.Seq)
	}
	return res
}

// strictUnmarshal decodes one record, refusing unknown fields and trailing
// bytes.
func strictUnmarshal(line []byte, rec *Record) error {
	d := json.NewDecoder(bytes.NewReader(line))
	d.DisallowUnknownFields()
	if err := d.Decode(rec); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("trailing data")
	}
	if rec.Kind == "" {
		return fmt.Errorf("no kind")
	}
	return nil
}

func checkHMAC(line []byte, got string, key []byte) string {
	if got == "" {
		return "no hmac, but a key was given"
	}
	suffix := hmacPrefix + got + `"}`
	if !bytes.HasSuffix(line, []byte(suffix)) {
		return "hmac is not the last field"
	}
	signed := append(slices.Clone(line[:len(line)-len(suffix)]), '}')
	m := hmac.New(sha256.New, key)
	m.Write(signed)
	want := m.Sum(nil)
	g, err := hex.DecodeString(got)
	if err != nil || !hmac.Equal(g, want) {
		return "hmac does not match (record edited, or the wrong key)"
	}
	return ""
}

// VerifyPaths verifies files and directories (every *.jsonl in them) and
// the rotation links between the files of each process: a genesis that
// names a previous file must link to its last line, and a close record
// that names a next file needs that file.
func VerifyPaths(paths []string, o VerifyOptions) ([]FileResult, error) {
	files, err := ListFiles(paths)
	if err != nil {
		return nil, err
	}
	byName := map[string]*FileResult{}
	out := make([]FileResult, 0, len(files))
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		res := Verify(f, p, o)
		f.Close()
		out = append(out, res)
	}
	for i := range out {
		byName[filepath.Base(out[i].File)] = &out[i]
	}
	for i := range out {
		r := &out[i]
		if pf := r.First.PrevFile; pf != "" {
			prev, ok := byName[pf]
			switch {
			case !ok:
				if len(files) > 1 {
					r.Problems = append(r.Problems, Problem{File: r.File, Line: 1, Kind: TamperLink, Msg: fmt.Sprintf("previous file %s is missing (deleted?)", pf)})
				}
			case prev.LastHash != r.First.Prev:
				r.Problems = append(r.Problems, Problem{File: r.File, Line: 1, Kind: TamperLink, Msg: fmt.Sprintf("genesis does not link to the last record of %s", pf)})
			}
		}
		if nf := r.Last.NextFile; nf != "" && r.Last.Kind == KindClose {
			if _, ok := byName[nf]; !ok && len(files) > 1 {
				r.Problems = append(r.Problems, Problem{File: r.File, Line: r.Records, Kind: TamperLink, Msg: fmt.Sprintf("next file %s is missing (deleted?)", nf)})
			}
		}
	}
	return out, nil
}

// ListFiles expands directories to their *.jsonl files, sorted by name
// (which sorts each process's files in writing order).
func ListFiles(paths []string) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		ents, err := os.ReadDir(p)
		if err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
		for _, e := range ents {
			if !e.IsDir() && strings.HasSuffix(e.Name(), ".jsonl") {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
	}
	slices.Sort(files)
	return files, nil
}

// ReadRecords calls fn for every record of the files, in file order,
// skipping lines that are not records; fn returning false stops.
func ReadRecords(files []string, fn func(file string, r Record) bool) error {
	for _, p := range files {
		f, err := os.Open(p)
		if err != nil {
			return fmt.Errorf("audit: %w", err)
		}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), maxLine)
		for sc.Scan() {
			var r Record
			if json.Unmarshal(sc.Bytes(), &r) != nil {
				continue
			}
			if !fn(p, r) {
				f.Close()
				return nil
			}
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return fmt.Errorf("audit: read %s: %w", p, err)
		}
	}
	return nil
}
