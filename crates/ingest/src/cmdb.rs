//! The CMDB import (being written).
