// zlib, for gzipped dataset downloads (IDX, csv.gz). Already a dependency of libpng and libhdf5.
#include <zlib.h>
