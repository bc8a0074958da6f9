package live

import (
	"errors"
	"os"
)

// openCamera opens DIR/NAME as an os.Root, itself opened inside an
// os.Root of DIR: a camera folder that is a symlink (or holds one)
// pointing outside DIR cannot be read through, whatever the name. Names
// are checked by wire.ValidName first; this is the lock on the door.
func (s *Server) openCamera(name string) (*os.Root, error) {
	if s.dir == "" {
		return nil, errors.New("no recordings folder")
	}
	top, err := os.OpenRoot(s.dir)
	if err != nil {
		return nil, err
	}
	defer top.Close()
	return top.OpenRoot(name)
}

// readDir lists the folder at name inside root.
func readDir(root *os.Root, name string) ([]os.DirEntry, error) {
	d, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.ReadDir(-1)
}
