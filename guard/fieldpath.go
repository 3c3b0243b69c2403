package guard

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
)

// stringPaths returns, for every string of the JSON text raw (object keys
// and values alike, in document order: the order of jsonStrings(raw,
// false, nil)), the path of the value it is or names, under root:
// "arguments.command", "arguments.files[2]", "arguments[\"odd key\"]". It
// decodes raw a second time, so callers use it only to name the field of a
// finding. raw must be valid JSON.
func stringPaths(raw []byte, root string) []string {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	type frame struct {
		array bool
		index int    // the next element's index (arrays)
		key   string // the current member's key (objects)
		path  string // the container's own path
	}
	var stack []frame
	var out []string
	// here is the path of the value about to be read.
	here := func() string {
		if len(stack) == 0 {
			return root
		}
		f := stack[len(stack)-1]
		if f.array {
			return f.path + "[" + strconv.Itoa(f.index) + "]"
		}
		return memberPath(f.path, f.key)
	}
	// done advances the enclosing container past one value.
	done := func() {
		if len(stack) == 0 {
			return
		}
		f := &stack[len(stack)-1]
		if f.array {
			f.index++
		} else {
			f.key = ""
		}
	}
	expectKey := func() bool {
		return len(stack) > 0 && !stack[len(stack)-1].array && stack[len(stack)-1].key == ""
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{', '[':
				stack = append(stack, frame{array: t == '[', path: here()})
			default:
				stack = stack[:len(stack)-1]
				done()
			}
		case string:
			if expectKey() {
				stack[len(stack)-1].key = t
				out = append(out, memberPath(stack[len(stack)-1].path, t))
				continue
			}
			out = append(out, here())
			done()
		default:
			done()
		}
	}
}

// memberPath is the path of key in the object at path: ".key" when the
// key is a plain identifier, else a quoted index.
func memberPath(path, key string) string {
	plain := key != "" && strings.IndexFunc(key, func(r rune) bool {
		return !(r == '_' || r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9')
	}) < 0
	if plain {
		return path + "." + key
	}
	return path + "[" + strconv.Quote(key) + "]"
}

// fieldViolations returns one Violation per distinct detector, rule and
// field among the findings of per that keep selects, with action; the
// field of per[i] is paths[i] (none past the end of paths: the numbers
// jsonNumbers appended).
func fieldViolations(stage, action string, per [][]Finding, paths []string, keep func(i int, f Finding) bool) []Violation {
	var out []Violation
	for i, fs := range per {
		for _, f := range fs {
			if !keep(i, f) {
				continue
			}
			v := Violation{Stage: stage, Detector: f.Detector, Rule: f.Rule, Action: action}
			if i < len(paths) {
				v.Field = paths[i]
			}
			if !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	slices.SortFunc(out, func(a, b Violation) int {
		if c := strings.Compare(a.Detector, b.Detector); c != 0 {
			return c
		}
		if c := strings.Compare(a.Rule, b.Rule); c != 0 {
			return c
		}
		return strings.Compare(a.Field, b.Field)
	})
	return out
}
