package function

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"mime"
	"os"
	"path"
	"path/filepath"
	"strings"

	"cloud.google.com/go/storage"
	"google.golang.org/api/googleapi"
)

// ErrResultExists is returned by ResultStore.Create when the id already
// has a result: another delivery of the same message got there first.
var ErrResultExists = errors.New("result already exists")

// ResultStore keeps one immutable JSON object per batch id. ids have been
// checked against batchIDPattern before they get here.
type ResultStore interface {
	// Exists reports whether id already has a result.
	Exists(ctx context.Context, id string) (bool, error)
	// Create stores data for id unless a result exists (ErrResultExists).
	// A reader never sees a partial object.
	Create(ctx context.Context, id string, data []byte) error
	// Name is where id's result lives, for people: gs://b/p/id.json or a path.
	Name(id string) string
	// CreateFile stores one output file of id's execution next to its
	// result (unless it exists already, from an earlier delivery) and
	// returns where. name has passed sandboxcore.CheckFileName.
	CreateFile(ctx context.Context, id, name string, data []byte) (string, error)
}

// DefaultResultsPrefix is the object prefix when RESULTS_PREFIX is unset.
const DefaultResultsPrefix = "results"

func cleanPrefix(prefix string) string {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return DefaultResultsPrefix
	}
	return prefix
}

// GCSStore writes results to a Cloud Storage bucket. The storage client
// honours STORAGE_EMULATOR_HOST, which the tests point at fake-gcs-server.
type GCSStore struct {
	client *storage.Client
	bucket string
	prefix string
}

// NewGCSStore opens a client for bucket. prefix "" means "results".
func NewGCSStore(ctx context.Context, bucket, prefix string) (*GCSStore, error) {
	c, err := storage.NewClient(ctx)
	if err != nil {
		return nil, fmt.Errorf("storage client: %w", err)
	}
	return &GCSStore{client: c, bucket: bucket, prefix: cleanPrefix(prefix)}, nil
}

func (g *GCSStore) object(id string) string { return objectName(g.prefix, id) }

func objectName(prefix, id string) string { return path.Join(prefix, id+".json") }

// Name implements ResultStore.
func (g *GCSStore) Name(id string) string { return gcsURI(g.bucket, g.object(id)) }

func gcsURI(bucket, object string) string { return "gs://" + bucket + "/" + object }

// ErrResultMissing is returned by Read while a result does not exist yet.
var ErrResultMissing = errors.New("no result yet")

// ResultReader reads batch results back, for the submit and results
// commands.
type ResultReader interface {
	Read(ctx context.Context, id string) ([]byte, error)
	Name(id string) string
}

// Read implements ResultReader.
func (g *GCSStore) Read(ctx context.Context, id string) ([]byte, error) {
	r, err := g.client.Bucket(g.bucket).Object(g.object(id)).NewReader(ctx)
	if errors.Is(err, storage.ErrObjectNotExist) {
		return nil, ErrResultMissing
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", g.Name(id), err)
	}
	defer r.Close()
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", g.Name(id), err)
	}
	return data, nil
}

// CreateFile implements ResultStore: <prefix>/<id>/files/<name>.
func (g *GCSStore) CreateFile(ctx context.Context, id, name string, data []byte) (string, error) {
	object := path.Join(g.prefix, id, "files", name)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w := g.client.Bucket(g.bucket).Object(object).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	w.ContentType = mime.TypeByExtension(path.Ext(name))
	if _, err := w.Write(data); err != nil {
		_ = w.Close()
		return "", fmt.Errorf("write %s: %w", gcsURI(g.bucket, object), err)
	}
	if err := w.Close(); err != nil {
		var ge *googleapi.Error
		if !errors.As(err, &ge) || ge.Code != 412 {
			return "", fmt.Errorf("write %s: %w", gcsURI(g.bucket, object), err)
		}
	}
	return gcsURI(g.bucket, object), nil
}

// Exists implements ResultStore.
func (g *GCSStore) Exists(ctx context.Context, id string) (bool, error) {
	_, err := g.client.Bucket(g.bucket).Object(g.object(id)).Attrs(ctx)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, storage.ErrObjectNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("stat %s: %w", g.Name(id), err)
	}
}

// Create implements ResultStore. The DoesNotExist precondition makes the
// bucket itself the arbiter between racing deliveries: the loser's Close
// fails with 412.
func (g *GCSStore) Create(ctx context.Context, id string, data []byte) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // abandons the upload if we return before Close
	w := g.client.Bucket(g.bucket).Object(g.object(id)).If(storage.Conditions{DoesNotExist: true}).NewWriter(ctx)
	w.ContentType = "application/json"
	w.CacheControl = "no-store"
	if _, err := w.Write(data); err != nil {
		_ = w.Close()
		return fmt.Errorf("write %s: %w", g.Name(id), err)
	}
	if err := w.Close(); err != nil {
		var ge *googleapi.Error
		if errors.As(err, &ge) && ge.Code == 412 {
			return ErrResultExists
		}
		return fmt.Errorf("write %s: %w", g.Name(id), err)
	}
	return nil
}

// Close releases the client.
func (g *GCSStore) Close() error { return g.client.Close() }

// DirStore writes results as files, for running without a cloud account.
type DirStore struct {
	dir string // <RESULTS_DIR>/<prefix>
}

// NewDirStore creates root/prefix if needed.
func NewDirStore(root, prefix string) (*DirStore, error) {
	dir := dirStoreRoot(root, prefix)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("results dir: %w", err)
	}
	return &DirStore{dir: dir}, nil
}

func dirStoreRoot(root, prefix string) string {
	return filepath.Join(root, filepath.FromSlash(cleanPrefix(prefix)))
}

func (d *DirStore) file(id string) string { return filepath.Join(d.dir, id+".json") }

// ResultName is where a server with this environment stores id's result,
// without opening the store (for the submit command).
func (e Env) ResultName(id string) string {
	if e.ResultsBucket != "" {
		return gcsURI(e.ResultsBucket, objectName(cleanPrefix(e.ResultsPrefix), id))
	}
	return (&DirStore{dir: dirStoreRoot(e.ResultsDir, e.ResultsPrefix)}).file(id)
}

// Name implements ResultStore.
func (d *DirStore) Name(id string) string { return d.file(id) }

// Read implements ResultReader.
func (d *DirStore) Read(_ context.Context, id string) ([]byte, error) {
	data, err := os.ReadFile(d.file(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrResultMissing
	}
	if err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	return data, nil
}

// CreateFile implements ResultStore: <dir>/<id>/files/<name>, created
// whole (temporary file, then a link that fails if the name is taken).
func (d *DirStore) CreateFile(_ context.Context, id, name string, data []byte) (string, error) {
	dst := filepath.Join(d.dir, id, "files", filepath.FromSlash(name))
	if err := os.MkdirAll(filepath.Dir(dst), 0o750); err != nil {
		return "", fmt.Errorf("output file dir: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-*")
	if err != nil {
		return "", fmt.Errorf("output file: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	_, err = tmp.Write(data)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Link(tmp.Name(), dst)
	}
	if err != nil && !errors.Is(err, fs.ErrExist) {
		return "", fmt.Errorf("output file: %w", err)
	}
	return dst, nil
}

// Exists implements ResultStore.
func (d *DirStore) Exists(_ context.Context, id string) (bool, error) {
	_, err := os.Lstat(d.file(id))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	default:
		return false, fmt.Errorf("stat result: %w", err)
	}
}

// Create implements ResultStore: the data goes to a temporary file first,
// then link(2) publishes it under its final name, which fails if the name
// is taken. Readers see the whole file or nothing; two writers cannot both
// win.
func (d *DirStore) Create(_ context.Context, id string, data []byte) error {
	tmp, err := os.CreateTemp(d.dir, ".tmp-"+id+"-*")
	if err != nil {
		return fmt.Errorf("result temp file: %w", err)
	}
	defer func() { _ = os.Remove(tmp.Name()) }()
	if _, err := tmp.Write(data); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("write result: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		_ = tmp.Close()
		return fmt.Errorf("sync result: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("close result: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o640); err != nil {
		return fmt.Errorf("chmod result: %w", err)
	}
	if err := os.Link(tmp.Name(), d.file(id)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ErrResultExists
		}
		return fmt.Errorf("publish result: %w", err)
	}
	return nil
}
