package guard

import (
	"encoding/json"
	"strings"
)

// jsonStrings appends every string of the JSON text raw, object keys and
// values alike, in document order, to out. It reads the text once and
// allocates one copy of it: strings without escapes are slices of that
// copy and only escaped ones are decoded. With blobs set, a string that is
// the value of a "data" or "blob" key and decodes from base64 to UTF-8 text
// is appended decoded as well. raw must be valid JSON (json.Valid); the
// caller checks when it cannot know.
func jsonStrings(raw []byte, blobs bool, out []string) []string {
	s := string(raw)
	key := ""    // the last object key read
	keyEnd := -1 // the offset just past that key's ':'
	for i := 0; i < len(s); i++ {
		if s[i] != '"' {
			if keyEnd >= 0 && i >= keyEnd && s[i] > ' ' {
				keyEnd = -1 // a non-string value: the key is spent
			}
			continue
		}
		j, escaped := i+1, false
		for s[j] != '"' {
			if s[j] == '\\' {
				escaped = true
				j++
			}
			j++
		}
		v := s[i+1 : j]
		if escaped {
			var u string
			if err := json.Unmarshal(raw[i:j+1], &u); err == nil {
				v = u
			}
		}
		out = append(out, v)
		k := j + 1
		for k < len(s) && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r') {
			k++
		}
		if k < len(s) && s[k] == ':' {
			key, keyEnd = v, k+1
		} else {
			if blobs && keyEnd >= 0 && (key == "data" || key == "blob") {
				if t, ok := decodedText(v); ok {
					out = append(out, t)
				}
			}
			keyEnd = -1
		}
		i = j
	}
	return out
}

// jsonNumbers appends the literal text of every number of the JSON text raw
// to out, in document order, so that PII sent as a JSON number (a card
// number, an account number) is scanned as its decimal text as a string
// would be. A JSON number loses an SSN's dashes and leading zeros, so an
// integer of at most nine digits under a key naming an SSN ("ssn",
// "social_security…") is appended a second time written as one
// (78051120 → "078-05-1120"). raw must be valid JSON.
func jsonNumbers(raw []byte, out []string) []string {
	s := string(raw)
	key := "" // the last object key read
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' {
			j := i + 1
			for s[j] != '"' {
				if s[j] == '\\' {
					j++
				}
				j++
			}
			k := j + 1
			for k < len(s) && (s[k] == ' ' || s[k] == '\t' || s[k] == '\n' || s[k] == '\r') {
				k++
			}
			if k < len(s) && s[k] == ':' {
				key = s[i+1 : j]
			}
			i = j
			continue
		}
		if c != '-' && (c < '0' || c > '9') {
			continue
		}
		j := i + 1
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E' || s[j] == '+' || s[j] == '-') {
			j++
		}
		n := s[i:j]
		out = append(out, n)
		if ssnKey(key) && len(n) <= 9 && allDigits(n) {
			p := strings.Repeat("0", 9-len(n)) + n
			out = append(out, p[:3]+"-"+p[3:5]+"-"+p[5:])
		}
		i = j - 1
	}
	return out
}

// ssnKey reports whether an object key names a US social security number.
func ssnKey(k string) bool {
	k = strings.ToLower(k)
	return strings.Contains(k, "ssn") || strings.Contains(strings.NewReplacer("_", "", "-", "", " ", "").Replace(k), "socialsecurity")
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
