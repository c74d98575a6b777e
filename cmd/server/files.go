package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"python-api/sandboxcore"
)

// fileFlags is a repeatable --file PATH: each file goes to the script's
// working directory under its base name.
type fileFlags []string

func (f *fileFlags) String() string     { return strings.Join(*f, ",") }
func (f *fileFlags) Set(v string) error { *f = append(*f, v); return nil }

// read loads the files for a request.
func (f fileFlags) read() ([]sandboxcore.InputFile, error) {
	var out []sandboxcore.InputFile
	for _, p := range f {
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, fmt.Errorf("--file: %w", err)
		}
		out = append(out, sandboxcore.InputFile{Name: filepath.Base(p), Content: data})
	}
	return out, nil
}

// writeOutputs saves a result's output files below dir, by the same name
// rule a request's files follow (the names come from the script).
func writeOutputs(dir string, files []sandboxcore.OutputFile) error {
	for _, f := range files {
		if err := sandboxcore.CheckFileName(f.Name); err != nil {
			return fmt.Errorf("output file not saved: %w", err)
		}
		dst := filepath.Join(dir, filepath.FromSlash(f.Name))
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(dst, f.Content, 0o644); err != nil {
			return err
		}
	}
	return nil
}
