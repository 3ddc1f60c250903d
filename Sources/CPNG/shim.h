// libpng's simplified API (png_image_*), which reports errors in a message instead of longjmp.
#include <png.h>
