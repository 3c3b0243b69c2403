package guard

import "encoding/json"

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
