package synth

import (
	"encoding/binary"
	"time"
)

var (
	zeroTime time.Time
	nil2le   = binary.LittleEndian
)
