"""Semua kalimat bot dalam Bahasa Indonesia. Kunci dan placeholder sama dengan ``en.py``."""

MESSAGES: dict[str, str] = {
    # bantuan
    "help": (
        "🎨 Aku Pelukis: aku melukis gambar dari kata-katamu, dalam Bahasa Indonesia atau Inggris.\n"
        "\n"
        "/gambar PROMPT (atau /generate) — minta dilukiskan gambar\n"
        "   opsi: --seed N  --cfg X  --steps N  --no NEGATIF  --style NAMA  --ar L:T\n"
        "/style — daftar gaya; /style NAMA memilih gaya untuk obrolan ini\n"
        "/seed, /cfg, /steps, /negative — pengaturan bawaanmu sendiri\n"
        "/lang id|en — bahasaku; /raw on|off — prompt-mu diterjemahkan atau tidak\n"
        "/settings — pengaturan untuk gambarmu berikutnya\n"
        "/queue — antrean; /cancel — batalkan gambarmu yang masih mengantre\n"
        "\n"
        "Contoh: /gambar kucing lucu di pasar --style kancil --seed 42"
    ),
    "unknown_command": "Perintah /{command} tidak kukenal. Ketik /help untuk melihat apa yang bisa kulakukan.",
    "not_a_command": "Kirim /gambar lalu tulis apa yang ingin kulukis, atau /help.",
    # gambar
    "generate_usage": (
        "Mau kulukis apa? Misalnya: /gambar kucing memakai baju batik. "
        "Opsi: --seed N --cfg X --steps N --no NEGATIF --style NAMA --ar L:T"
    ),
    "prompt_too_long": "Prompt-nya kepanjangan: {length} karakter, batasnya {limit}.",
    "negative_too_long": "Prompt negatifnya kepanjangan: {length} karakter, batasnya {limit}.",
    "option_unknown": "Opsi {option} tidak kukenal. Opsi yang ada: --seed --cfg --steps --no --style --ar --raw",
    "option_needs_value": "Opsi {option} perlu nilai, misalnya {example}.",
    "not_a_number": "“{value}” bukan angka. {usage}",
    "seed_range": "Seed harus bilangan bulat dari 0 sampai {max}, bukan {value}.",
    "cfg_range": "Skala panduan (cfg) harus di antara {min} dan {max}, bukan {value}.",
    "steps_range": "Jumlah langkah (steps) harus dari {min} sampai {max}, bukan {value}.",
    "ar_invalid": "Rasio aspek ditulis seperti 16:9 (lebar:tinggi), bukan “{value}”.",
    "ar_range": "Rasio aspek {value} terlalu ekstrem. Paling lebar {max}:1.",
    "queue_full": "Kamu sudah punya {count} gambar yang mengantre (batasnya {limit}). Coba lagi setelah salah satunya selesai.",
    "queued": "Masuk antrean: urutan ke-{position}.",
    "queued_next": "Masuk antrean: giliranmu berikutnya.",
    "painting": "Sedang melukis…",
    "progress": "Sedang melukis… {percent}%",
    "failed": "Maaf, gambar ini gagal kulukis: {reason}",
    "failed_retries": "Maaf, pelukisnya berkali-kali gagal menggarap gambar ini. Coba lagi nanti, ya.",
    "failed_invalid": "permintaannya ditolak ({detail})",
    "cancelled": "Dibatalkan.",
    "engine_starting": "Pelukisnya sedang bersiap; gambarmu segera digarap.",
    "engine_restarting": "Pelukisnya sedang dimulai ulang; gambarmu tetap aman di antrean.",
    # gaya
    "style_header": "Gaya yang tersedia (yang sedang dipakai bertanda ✅):",
    "style_line": "{mark} {name} — {title}: {description}",
    "style_none_line": "{mark} none — model dasar, tanpa gaya",
    "style_usage": "Pilih dengan /style NAMA, atau /style none untuk model dasar.",
    "style_unknown": "Tidak ada gaya bernama “{name}”. Pilihannya: {names}, none.",
    "style_set": "Gaya obrolan ini sekarang {title}.",
    "style_cleared": "Obrolan ini sekarang memakai model dasar, tanpa gaya.",
    "style_moderators_only": "Hanya admin grup yang bisa mengganti gaya grup ini.",
    # pengaturan pengguna
    "seed_show": "Seed-mu: {seed}. Atur dengan /seed N atau /seed random.",
    "seed_random_word": "acak",
    "seed_set": "Seed-mu sekarang {seed}: prompt yang sama akan menghasilkan gambar yang sama.",
    "seed_random_set": "Seed-mu kembali acak: setiap gambar akan berbeda.",
    "cfg_show": "Skala panduan (cfg)-mu: {cfg}. Atur dengan /cfg X ({min}–{max}).",
    "cfg_set": "Skala panduan (cfg)-mu sekarang {cfg}.",
    "steps_show": "Jumlah langkahmu: {steps}. Atur dengan /steps N ({min}–{max}).",
    "steps_set": "Jumlah langkahmu sekarang {steps}.",
    "negative_show": "Prompt negatifmu: {negative}. Atur dengan /negative TEKS atau hapus dengan /negative none.",
    "negative_empty": "(tidak ada)",
    "negative_set": "Prompt negatifmu sekarang: {negative}",
    "negative_cleared": "Prompt negatifmu sudah dihapus.",
    "lang_show": "Aku sedang berbahasa Indonesia. Ganti dengan /lang en atau /lang id.",
    "lang_set": "Oke, mulai sekarang aku pakai Bahasa Indonesia.",
    "lang_usage": "Pilih id (Bahasa Indonesia) atau en (English): /lang en",
    "raw_on": "Mulai sekarang prompt-mu dikirim ke pelukis persis seperti yang kamu tulis, tanpa diterjemahkan.",
    "raw_off": "Mulai sekarang prompt berbahasa Indonesia-mu kuterjemahkan ke bahasa Inggris untuk pelukis.",
    "raw_show_on": "Prompt-mu tidak diterjemahkan. Ketik /raw off supaya diterjemahkan.",
    "raw_show_off": "Prompt berbahasa Indonesia-mu kuterjemahkan ke bahasa Inggris. Ketik /raw on untuk mengirimnya apa adanya.",
    "style_default": "bawaan gaya",
    "settings": (
        "Untuk gambarmu berikutnya:\n"
        "gaya: {style}\n"
        "seed: {seed}\n"
        "cfg: {cfg}\n"
        "langkah: {steps}\n"
        "negatif: {negative}\n"
        "ukuran: {width}×{height}\n"
        "bahasa: {language}"
    ),
    # antrean
    "queue_empty": "Antrean kosong. Kirim /gambar untuk mulai melukis.",
    "queue_header": "Antrean ({count}):",
    "queue_line": "#{position} {user}: {prompt}",
    "queue_running": "▶ {user}: {prompt}",
    "cancel_none": "Kamu tidak punya gambar yang sedang mengantre.",
    "cancel_done": "{count} gambarmu yang mengantre sudah dibatalkan.",
    # keterangan gambar
    "cap_prompt": "Prompt",
    "cap_english": "Inggris",
    "cap_offline": "terjemahan luring",
    "cap_style": "Gaya",
    "cap_seed": "Seed",
    "cap_cfg": "CFG",
    "cap_steps": "Langkah",
    "cap_clip": "CLIP",
    "cap_test_model": "model uji",
    "cap_none_style": "tanpa gaya",
    # menu perintah (setMyCommands Telegram, deskripsi slash command Discord)
    "cmd_generate": "Lukis gambar dari kata-katamu",
    "cmd_style": "Lihat daftar gaya atau pilih gaya untuk obrolan ini",
    "cmd_seed": "Lihat atau tetapkan seed-mu",
    "cmd_cfg": "Lihat atau atur skala panduan (cfg)",
    "cmd_steps": "Lihat atau atur jumlah langkah",
    "cmd_negative": "Lihat atau atur prompt negatifmu",
    "cmd_lang": "Pilih bahasaku (id atau en)",
    "cmd_settings": "Pengaturan untuk gambarmu berikutnya",
    "cmd_queue": "Gambar yang sedang mengantre",
    "cmd_cancel": "Batalkan gambarmu yang masih mengantre",
    "cmd_help": "Apa yang bisa kulakukan dan cara memakaiku",
    "error_generic": "Maaf, ada yang salah di pihakku. Coba lagi, ya.",
    # tombol di bawah gambar
    "btn_reroll": "🎲 Ulangi",
    "btn_keep_seed": "📌 Simpan seed",
    "btn_file": "📄 PNG asli",
    "btn_delete": "🗑 Hapus",
    "job_gone": "Gambar itu sudah tidak ada.",
    "delete_not_allowed": "Hanya yang memintanya, atau admin, yang bisa menghapus gambar ini.",
    "deleted": "Sudah dihapus.",
    # konsol
    "console_welcome": "Obrolan konsol Pelukis — ketik /help, Ctrl-D untuk keluar.",
    "console_saved": "Tersimpan: {path}",
}
