// manifest-oracle prints what kubectl decodes from manifests, for the e2e test that holds
// `tollgate check`'s manifest reader to it. It runs kubectl's own decoding code, at the versions
// kubectl of the release in ../wrapper uses (go.mod): the resource builder that `kubectl create -f`
// and `kubectl apply -f` build (k8s.io/cli-runtime: a file read through the UTF-16/BOM transform,
// split into documents by apimachinery's YAMLOrJSONDecoder, YAML turned into JSON by
// sigs.k8s.io/yaml on go-yaml v2, decoded as unstructured objects with metadata checked, Lists
// flattened), only local: no REST mapping, so a kind the apiserver would not know is no error here,
// and no namespace is set (an empty one is dropped, as kubectl does for a kind it cannot place).
//
// Input, on stdin: one JSON object per line, {"text": "..."} or {"base64": "..."} (for bytes that
// are not UTF-8). Output, on stdout: one JSON object per input line, in order,
// {"objects": [...]} with what kubectl would send, and "error" too when kubectl would fail
// (objects decoded before the failure are still sent by kubectl, so they are still listed).
package main

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/cli-runtime/pkg/resource"
)

type input struct {
	Text   *string `json:"text"`
	Base64 *string `json:"base64"`
}

type output struct {
	Objects []json.RawMessage `json:"objects"`
	Error   string            `json:"error,omitempty"`
}

// dir holds the file each manifest is written to; removed on every way out.
var dir string

func main() {
	var err error
	if dir, err = os.MkdirTemp("", "manifest-oracle-"); err != nil {
		fail(err)
	}
	defer os.RemoveAll(dir)
	// kubectl reads `-f file` and `-f -` through the same FileVisitor; a file keeps stdin free for
	// the cases.
	file := filepath.Join(dir, "manifest.yaml")

	lines := bufio.NewScanner(os.Stdin)
	lines.Buffer(make([]byte, 1<<20), 64<<20)
	out := bufio.NewWriter(os.Stdout)
	encoder := json.NewEncoder(out)
	for lines.Scan() {
		var in input
		if err := json.Unmarshal(lines.Bytes(), &in); err != nil {
			fail(fmt.Errorf("bad input line: %w", err))
		}
		var manifest []byte
		switch {
		case in.Text != nil:
			manifest = []byte(*in.Text)
		case in.Base64 != nil:
			if manifest, err = base64.StdEncoding.DecodeString(*in.Base64); err != nil {
				fail(fmt.Errorf("bad base64: %w", err))
			}
		default:
			fail(fmt.Errorf("an input line needs text or base64"))
		}
		if err := os.WriteFile(file, manifest, 0o600); err != nil {
			fail(err)
		}
		if err := encoder.Encode(decode(file)); err != nil {
			fail(err)
		}
		// One answer per question: the test writes the next case after reading this one.
		if err := out.Flush(); err != nil {
			fail(err)
		}
	}
	if err := lines.Err(); err != nil {
		fail(err)
	}
}

// decode reads file as `kubectl create -f file` does (k8s.io/kubectl/pkg/cmd/create), local.
func decode(file string) (result output) {
	result.Objects = []json.RawMessage{}
	defer func() {
		// A panic in kubectl's code would be a crash of kubectl: a failure, not the oracle's.
		if p := recover(); p != nil {
			result.Error = fmt.Sprintf("panic: %v", p)
		}
	}()
	r := resource.NewLocalBuilder().
		Unstructured().
		ContinueOnError().
		FilenameParam(false, &resource.FilenameOptions{Filenames: []string{file}}).
		Flatten().
		Do()
	if err := r.Err(); err != nil {
		result.Error = err.Error()
		return result
	}
	err := r.Visit(func(info *resource.Info, err error) error {
		if err != nil {
			return err
		}
		// As kubectl's `-o json` printer does.
		data, err := json.Marshal(info.Object)
		if err != nil {
			return err
		}
		result.Objects = append(result.Objects, data)
		return nil
	})
	if err != nil {
		result.Error = err.Error()
	}
	return result
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "manifest-oracle:", err)
	if dir != "" {
		os.RemoveAll(dir)
	}
	os.Exit(2)
}
