typedef int rtk_placeholder_vfs;
