/**
 * The data-disk banner and the server's disk-full refusals.
 * Vietnamese first, with full diacritics; English alongside, key by key.
 */
export const vi = {
  disk_low: 'Ổ đĩa dữ liệu sắp đầy: chỉ còn trống {free}.',
  disk_reserve: 'Ổ đĩa dữ liệu đã đầy: máy chủ đang dùng phần dung lượng dự phòng ({reserve}), chỉ dành cho đăng nhập, cảnh báo khẩn cấp, phát trực tiếp và biên nhận phát.',
  disk_full: 'Ổ đĩa dữ liệu đã đầy hoàn toàn (còn trống {free}) và không còn dung lượng dự phòng: cả cảnh báo khẩn cấp và biên nhận phát cũng có thể không lưu được.',
  diskPaused: 'Đang tạm ngừng: {what}.',
  diskPaused_media: 'tải lên âm thanh và chuyển văn bản thành giọng nói',
  diskPaused_history: 'ghi lịch sử độ phủ',
  diskPaused_change: 'mọi thay đổi khác (lịch phát, trạm, người dùng…)',
  diskWhatToFree: 'Hãy giải phóng dung lượng trên ổ đĩa chứa thư mục dữ liệu (LOANET_DATA_DIR): thu hồi bản tin cũ trong thư viện, chuyển bản sao lưu và nhật ký sang nơi khác.',
  err_LOANET_DISK_LOW:
    'Ổ đĩa dữ liệu của máy chủ sắp đầy nên yêu cầu này tạm thời bị từ chối; đăng nhập, cảnh báo khẩn cấp và biên nhận phát vẫn hoạt động. Hãy báo quản trị viên giải phóng dung lượng rồi thử lại.',
  err_LOANET_DISK_FULL: 'Chưa lưu được: ổ đĩa dữ liệu của máy chủ đã đầy (dữ liệu đã lưu trước đó không bị mất). Hãy báo quản trị viên giải phóng dung lượng rồi thử lại.',
};

export const en: Record<keyof typeof vi, string> = {
  disk_low: 'The data disk is nearly full: {free} free.',
  disk_reserve: 'The data disk is full: the server is running on its reserve ({reserve}), kept for logins, emergency alerts, live broadcasts and as-run receipts.',
  disk_full: 'The data disk is completely full ({free} free) with no reserve left: even emergency alerts and receipts may fail to be saved.',
  diskPaused: 'Paused: {what}.',
  diskPaused_media: 'audio uploads and text to speech',
  diskPaused_history: 'coverage history',
  diskPaused_change: 'every other change (schedule, sites, users…)',
  diskWhatToFree: 'Free space on the disk of the data folder (LOANET_DATA_DIR): retire old media in the library, move backups and logs elsewhere.',
  err_LOANET_DISK_LOW:
    "The server's data disk is nearly full, so this request is refused for now; logins, emergency alerts and receipts still work. Ask an admin to free space, then try again.",
  err_LOANET_DISK_FULL: "Not saved: the server's data disk is full (nothing saved before was lost). Ask an admin to free space, then try again.",
};
